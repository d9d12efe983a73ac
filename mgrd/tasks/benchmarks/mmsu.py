"""MMSU (Wang et al., arXiv 2506.04779; not VoiceBench's `mmsu`): `question/mmsu.jsonl` + audio."""

from __future__ import annotations

from pathlib import Path

from mgrd.scoring.official import MMSU_LETTERS, mmsu_letter
from mgrd.tasks.base import TaskItem
from mgrd.tasks.benchmarks.choice import ChoiceBenchmark
from mgrd.tasks.benchmarks.hub import SCHEMAS, layout_of, read_snapshot
from mgrd.tasks.benchmarks.layout import audio_path, check_audio_exists, find_file, read_records, require_fields

FIELDS = ("id", "audio_path", "question", "choice_a", "choice_b", "answer_gt")


class MMSU(ChoiceBenchmark):
    name = "mmsu"
    version = "1"
    breakdowns = ("category", "sub-category", "task_name")

    def official_grade(self, item: TaskItem, answer: str) -> float:
        """MMSU's letter rule: the letter read by `mmsu_letter`, its choice text equal to `answer_gt`."""
        letter = mmsu_letter(answer)
        index = MMSU_LETTERS.index(letter) if letter else None
        return float(index is not None and index < len(item.choices) and item.choices[index] == item.answer)

    def difference(self, item: TaskItem, answer: str, official: float | None, robust: float | None) -> str:
        if official == robust:
            return ""
        if not answer.strip():
            return "empty answer (the official script would reuse the previous item's letter)"
        letter = mmsu_letter(answer)
        if letter is None:
            return "no letter at the first or second-to-last character: official 'wrong format'"
        if official and not robust:
            return f"official rule reads the letter {letter} off a character that is not a stated answer"
        return f"official rule reads {letter} from the first or second-to-last character, not the stated answer"


def load_mmsu(data_dir: str | Path) -> MMSU:
    """MMSU's 5,000 items; choices C and D are dropped when absent (two-way questions)."""
    root = Path(data_dir)
    if (snap := read_snapshot(root, SCHEMAS["mmsu"])) is not None:
        path, rows, base = snap.source, snap.rows, snap.audio_dir
    else:
        path = find_file(root, ["question/mmsu.jsonl", "mmsu.jsonl", "MMSU/question/mmsu.jsonl"], "MMSU")
        base = path.parent.parent if path.parent.name == "question" else path.parent
        rows = read_records(path)
    require_fields(rows, FIELDS, path)
    items = []
    for row in rows:
        choices = tuple(str(row[k]) for k in ("choice_a", "choice_b", "choice_c", "choice_d")
                        if row.get(k) not in (None, ""))
        meta = {k: str(row.get(k, "")) for k in ("task_name", "category", "sub-category", "sub-sub-category",
                                                 "linguistics_sub_discipline")}
        items.append(TaskItem(id=str(row["id"]), question=str(row["question"]), answer=str(row["answer_gt"]),
                              audio=(audio_path(base, row["audio_path"], f"MMSU item {row['id']}"),),
                              choices=choices, category=meta["category"], meta=meta))
    check_audio_exists((a for it in items for a in it.audio), "MMSU", f"paths relative to {base}")
    return MMSU(items, source=str(path), layout=layout_of(snap))
