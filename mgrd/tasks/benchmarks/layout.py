"""Reading a benchmark's local directory: metadata files and audio paths, with errors that say what
was expected where."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from mgrd.io import data_path


class LayoutError(FileNotFoundError):
    """A benchmark directory is missing files or does not have the official layout."""


def find_file(root: Path, candidates: Sequence[str], what: str) -> Path:
    """The first of `candidates` (paths relative to `root`) that exists."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{what}: data directory {root} does not exist")
    for name in candidates:
        if (root / name).is_file():
            return root / name
    raise LayoutError(f"{what}: expected one of {', '.join(candidates)} in {root}; found none "
                      f"(directory holds: {', '.join(sorted(p.name for p in root.iterdir())[:10]) or 'nothing'})")


def read_records(path: Path) -> list[dict]:
    """Rows of a `.json` (a list, or an object with a `data` list), `.jsonl` or `.csv` file."""
    path = Path(path)
    try:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif path.suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = data.get("data") if isinstance(data, dict) else data
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as e:
        raise LayoutError(f"{path} is not readable as {path.suffix or 'JSON'}: {e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise LayoutError(f"{path} must hold a list of objects (one per item)")
    if not rows:
        raise LayoutError(f"{path} holds no items")
    return rows


def require_fields(rows: Iterable[Mapping], fields: Sequence[str], path: Path) -> None:
    """Raise naming the first row that lacks one of `fields`."""
    for i, row in enumerate(rows):
        missing = [f for f in fields if f not in row]
        if missing:
            raise LayoutError(f"{path}: item {i} has no field {', '.join(missing)}; "
                              f"each item needs {', '.join(fields)}")


def audio_path(root: Path, relative: str, what: str) -> str:
    """`relative` resolved against `root` ("./audio/x.wav" style paths included); it must stay inside
    `root` (see `mgrd.io.data_path`)."""
    if not isinstance(relative, str) or not relative:
        raise LayoutError(f"{what}: the audio path is empty or not a string ({relative!r})")
    return str(data_path(root, relative, what))


def check_audio_exists(paths: Iterable[str], what: str, expected: str) -> None:
    """Raise if any audio file is missing, naming how many, the first one and the expected place."""
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise LayoutError(f"{what}: {len(missing)} audio file(s) missing, e.g. {missing[0]}; "
                          f"expected the audio at {expected}")


def text_field(value) -> str:
    """A text value that may be stored as `{"text": ...}` (HF exports) or a one-element list."""
    if isinstance(value, Mapping):
        value = value.get("text", "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)
