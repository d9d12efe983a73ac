"""MMAR (arXiv 2505.13032): `MMAR-meta.json` (or `.jsonl`) + `audio/<id>.wav`."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from mgrd.tasks.base import TaskItem
from mgrd.tasks.benchmarks.choice import ChoiceBenchmark
from mgrd.tasks.benchmarks.hub import SCHEMAS, layout_of, read_snapshot
from mgrd.tasks.benchmarks.layout import (LayoutError, audio_path, check_audio_exists, find_file, read_records,
                                          require_fields)

FIELDS = ("id", "audio_path", "question", "choices", "answer")


class MMAR(ChoiceBenchmark):
    name = "mmar"
    version = "1"
    sampling = MappingProxyType({"repetition_penalty": 1.07})  # the official client's MMAR setting
    breakdowns = ("modality", "category", "sub-category")


def load_mmar(data_dir: str | Path) -> MMAR:
    """MMAR's 1,000 items; `thinking`, `cue` and `rubric` (MMAR-Rubrics) are kept in `meta`."""
    root = Path(data_dir)
    if (snap := read_snapshot(root, SCHEMAS["mmar"])) is not None:
        path, rows, root = snap.source, snap.rows, snap.audio_dir
    else:
        path = find_file(root, ["MMAR-meta.json", "MMAR-meta.jsonl"], "MMAR")
        rows = read_records(path)
    require_fields(rows, FIELDS, path)
    items = []
    for row in rows:
        if not isinstance(row["choices"], list) or len(row["choices"]) < 2:
            raise LayoutError(f"{path}: item {row['id']} needs a list of at least two choices")
        meta = {k: str(row.get(k, "")) for k in ("modality", "category", "sub-category", "language", "source")}
        items.append(TaskItem(id=str(row["id"]), question=str(row["question"]), answer=str(row["answer"]),
                              audio=(audio_path(root, row["audio_path"], f"MMAR item {row['id']}"),),
                              choices=tuple(str(c) for c in row["choices"]), category=meta["category"],
                              meta=meta))
    check_audio_exists((a for it in items for a in it.audio), "MMAR", f"{root}/audio/<id>.wav")
    return MMAR(items, source=str(path), layout=layout_of(snap))
