"""Big Bench Audio (Artificial Analysis): `metadata.csv|jsonl` (category, official_answer, file_name, id)
+ `data/question_<id>.mp3`. The question is in the audio; the dataset has no transcript column."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

from mgrd.scoring import extract_number, normalize, unwrap_tags
from mgrd.scoring.judge_prompts import BBA_JUDGE_TEMPLATE, bba_judge_prompt, parse_verdict
from mgrd.tasks.base import TaskItem
from mgrd.tasks.benchmarks.benchmark import Benchmark
from mgrd.tasks.benchmarks.hub import SCHEMAS, layout_of, read_snapshot
from mgrd.tasks.benchmarks.layout import (audio_path, check_audio_exists, find_file, read_records, require_fields,
                                          text_field)

# Step-Audio-R1's instruction: answer only with valid/invalid, yes/no or a number, nothing else.
STEP_BBA_PROMPT = "仅用 \"valid\" 或 \"invalid\"，\"yes\" 或 \"no\"，或者数字来直接回答上面的问题，不要添加任何其他描述。"
CATEGORIES = ("formal_fallacies", "navigate", "object_counting", "web_of_lies")
FIELDS = ("id", "category", "official_answer", "file_name")
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)?|\d+(?:\.\d+)?")


class BigBenchAudio(Benchmark):
    name = "bigbench_audio"
    version = "1"
    default_prompt = STEP_BBA_PROMPT
    audio_first = True
    judged = True
    judge_template = BBA_JUDGE_TEMPLATE
    judge_sampling = MappingProxyType({"temperature": 0.0, "max_tokens": 16})

    def grade(self, item: TaskItem, answer: str) -> float:
        """Rule matcher: exactly one of valid/invalid, yes/no, or one distinct number, equal to the
        official answer (number words count: "seven" = 7)."""
        return float(rule_answer(answer, item.answer) == normalize(item.answer))

    def official_grade(self, item: TaskItem, answer: str) -> float | None:
        return None  # needs the judge: see `scores`

    def judge_prompt(self, item: TaskItem, answer: str, template: str | None = None) -> str:
        # No transcript ships with the dataset: the question is left empty unless the metadata has one.
        return bba_judge_prompt(str(item.meta.get("question", "")), item.answer, answer,
                                template or BBA_JUDGE_TEMPLATE)

    def parse_judgement(self, reply: str) -> float | None:
        return parse_verdict(reply)

    def scores(self, item: TaskItem, answer: str, judgement: float | None = None) -> tuple[float | None, float]:
        return judgement, self.grade(item, answer)

    def difference(self, item: TaskItem, answer: str, official: float | None, robust: float | None) -> str:
        if official is None or official == robust:
            return ""
        found = rule_answer(answer, item.answer)
        if found is None:
            return "rule finds no single answer word or number; the judge read one"
        return f"rule reads {found!r}; the judge disagrees"


def rule_answer(answer: str, official_answer: str) -> str | None:
    """The answer word or number the rule reads, in the official answer's vocabulary; None when
    there is none or more than one."""
    tokens = _TOKEN.findall(unwrap_tags(answer).lower())
    ref = normalize(official_answer)
    if ref in ("valid", "invalid") or ref in ("yes", "no"):
        vocabulary = ("valid", "invalid") if ref in ("valid", "invalid") else ("yes", "no")
        found = {t for t in tokens if t in vocabulary}
    else:
        found = {v for v in (extract_number(t) for t in tokens) if v is not None}
        found = {f"{v:g}" for v in found}
    return found.pop() if len(found) == 1 else None


def load_bigbench_audio(data_dir: str | Path) -> BigBenchAudio:
    """The 1,000 clips; `file_name` is relative to the metadata file's folder (HF audiofolder)."""
    root = Path(data_dir)
    if (snap := read_snapshot(root, SCHEMAS["bigbench_audio"])) is not None:
        path, rows, base = snap.source, snap.rows, snap.audio_dir
    else:
        path = find_file(root, ["metadata.csv", "metadata.jsonl", "metadata.json", "data/metadata.csv",
                                "data/metadata.jsonl", "data/metadata.json"], "Big Bench Audio")
        rows, base = read_records(path), path.parent
    require_fields(rows, FIELDS, path)
    items = []
    for row in rows:
        meta = {"category": str(row["category"])}
        question = text_field(row.get("question") or row.get("transcript"))
        if question:
            meta["question"] = question
        items.append(TaskItem(id=str(row["id"]), question=question, answer=str(row["official_answer"]).strip(),
                              audio=(audio_path(base, str(row["file_name"]), f"item {row['id']}"),),
                              category=meta["category"], meta=meta))
    check_audio_exists((a for it in items for a in it.audio), "Big Bench Audio",
                       f"the file_name paths relative to {base}")
    return BigBenchAudio(items, source=str(path), layout=layout_of(snap))
