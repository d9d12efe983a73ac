"""WildSpeech-Bench (arXiv 2506.21875): `metadata.jsonl` (audio, user_query, taskType, checklist, ...)
+ audio; open-ended, judged 1–10."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from mgrd.scoring.judge_prompts import WILDSPEECH_JUDGE_TEMPLATE, parse_score, wildspeech_judge_prompt
from mgrd.scoring.official.language import detected_english, require_langdetect
from mgrd.tasks.base import TaskItem
from mgrd.tasks.benchmarks.benchmark import Benchmark
from mgrd.tasks.benchmarks.hub import SCHEMAS, layout_of, read_snapshot
from mgrd.tasks.benchmarks.layout import audio_path, check_audio_exists, find_file, read_records, require_fields

FIELDS = ("user_query", "taskType", "checklist")


class WildSpeech(Benchmark):
    name = "wildspeech"
    version = "1"   # the items and prompt; the scoring rules' version is SCORING_VERSION (scores re-run from the cache)
    default_prompt = None   # audio only
    judged = True
    judge_template = WILDSPEECH_JUDGE_TEMPLATE
    score_scale = 10.0      # the paper reports the 1–10 score ×10
    breakdowns = ("category", "noise")
    judge_sampling = MappingProxyType({"temperature": 0.5, "top_p": 0.95, "max_tokens": 1024})

    def grade(self, item: TaskItem, answer: str) -> float | None:
        return None  # open-ended: only the judge scores it

    def judge_prompt(self, item: TaskItem, answer: str, template: str | None = None) -> str:
        return wildspeech_judge_prompt(item.question, answer, str(item.meta.get("checklist", "")),
                                       template or WILDSPEECH_JUDGE_TEMPLATE)

    def parse_judgement(self, reply: str) -> float | None:
        return parse_score(reply)

    def scores(self, item: TaskItem, answer: str, judgement: float | None = None) -> tuple[float | None, float | None]:
        """Official: a reply `langdetect` does not read as English scores 1 (WildSpeech's language
        rule, `mgrd[langdetect]`); robust: the judge's score as given."""
        if judgement is None:
            return None, None
        return (judgement if detected_english(answer) else 1.0), judgement

    def difference(self, item: TaskItem, answer: str, official: float | None, robust: float | None) -> str:
        return "" if official == robust else "langdetect does not read the reply as English: the official rule scores it 1"


def load_wildspeech(data_dir: str | Path) -> WildSpeech:
    """The 1,100 queries; the category is taskType (prosodic items split by `additional_info`)."""
    root = Path(data_dir)
    if (snap := read_snapshot(root, SCHEMAS["wildspeech"])) is not None:
        path, rows, base = snap.source, snap.rows, snap.audio_dir
    else:
        path = find_file(root, ["metadata.jsonl", "metadata.json", "metadata.csv", "data/metadata.jsonl"],
                         "WildSpeech-Bench")
        rows, base = read_records(path), path.parent
    require_fields(rows, FIELDS, path)
    items = []
    for i, row in enumerate(rows):
        item_id = str(row.get("conversation_hash") or row.get("id") or i)
        rel = row.get("audio") or row.get("file_name") or row.get("audio_path")
        if isinstance(rel, dict):
            rel = rel.get("path")
        category = str(row["taskType"])
        if category == "prosodical" and row.get("additional_info"):
            category = f"prosodical/{row['additional_info']}"
        meta = {"category": category, "noise": str(row.get("modification_type") or "clean"),
                "checklist": str(row["checklist"])}
        items.append(TaskItem(id=item_id, question=str(row["user_query"]), answer="",
                              audio=(audio_path(base, rel, f"WildSpeech item {item_id}"),),
                              category=category, meta=meta))
    check_audio_exists((a for it in items for a in it.audio), "WildSpeech-Bench",
                       f"the audio paths relative to {base}")
    require_langdetect()   # before any inference: the official score needs it
    return WildSpeech(items, source=str(path), layout=layout_of(snap))
