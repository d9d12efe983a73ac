"""MMAU test-mini (arXiv 2410.19168): `mmau-test-mini.json` + `test-mini-audios/<id>.wav`."""

from __future__ import annotations

import json
from pathlib import Path

from mgrd.tasks.base import TaskItem
from mgrd.tasks.benchmarks.choice import ChoiceBenchmark
from mgrd.tasks.benchmarks.hub import SCHEMAS, layout_of, read_snapshot
from mgrd.tasks.benchmarks.layout import (LayoutError, audio_path, check_audio_exists, find_file, read_records,
                                          require_fields)

# The label set decides the file: v05.15.25 is the current `mmau-test-mini.json`; the original
# (pre-May-2025) labels must be saved beside it as `mmau-test-mini-original.json`.
LABEL_FILES = {"v05.15.25": "mmau-test-mini.json", "original": "mmau-test-mini-original.json"}
FIELDS = ("id", "audio_id", "question", "choices", "answer")


class MMAU(ChoiceBenchmark):
    name = "mmau"
    version = "1-v05.15.25"
    breakdowns = ("task", "difficulty", "category", "sub-category")


class MMAUOriginal(MMAU):
    name = "mmau-original"
    version = "1-original"


def load_mmau(data_dir: str | Path, *, labels: str = "v05.15.25") -> MMAU:
    """MMAU test-mini with the chosen label set ("v05.15.25" or "original").

    Scores on the two label sets are not comparable; the task name and version say which one.
    """
    if labels not in LABEL_FILES:
        raise ValueError(f"unknown MMAU label set {labels!r}; accepted: {', '.join(LABEL_FILES)}")
    root = Path(data_dir)
    if (snap := read_snapshot(root, SCHEMAS["mmau"])) is not None:
        path, rows, root = snap.source, snap.rows, snap.audio_dir
    else:
        path = find_file(root, [LABEL_FILES[labels]], f"MMAU ({labels} labels)")
        rows = read_records(path)
    require_fields(rows, FIELDS, path)
    items = [_item(root, row, path) for row in rows]
    check_audio_exists((a for it in items for a in it.audio), "MMAU", f"{root}/test-mini-audios/<id>.wav")
    return (MMAU if labels == "v05.15.25" else MMAUOriginal)(items, source=str(path), layout=layout_of(snap))


def _item(root: Path, row: dict, path: Path) -> TaskItem:
    choices = row["choices"]
    if isinstance(choices, str):  # lmms-lab re-uploads store the list as a JSON string
        choices = json.loads(choices)
    if not isinstance(choices, list) or len(choices) < 2:
        raise LayoutError(f"{path}: item {row['id']} needs a list of at least two choices, got {choices!r}")
    category = row.get("category", "")
    if isinstance(category, list):  # 13 Reasoning items store ["Reasoning"]
        category = category[0] if category else ""
    meta = {k: str(row.get(k, "")) for k in ("task", "difficulty", "sub-category", "dataset", "split")}
    meta["category"] = str(category)
    return TaskItem(id=str(row["id"]), question=str(row["question"]), answer=str(row["answer"]),
                    audio=(audio_path(root, row["audio_id"], f"MMAU item {row['id']}"),),
                    choices=tuple(str(c) for c in choices), category=str(category), meta=meta)
