"""Files that are never left half-written (atomic writes, JSONL), and paths from data files kept inside their folder."""

from __future__ import annotations

import contextvars
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    On an exception the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_ATOMIC_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")   # what atomic_path's mkstemp names look like


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Remove the temporary files `atomic_path` left in `directory` when a writer was killed; their names.

    Call it only where the caller is the directory's one writer (an export into its own folder).
    """
    directory = Path(directory)
    removed = []
    if directory.is_dir():
        for p in directory.iterdir():
            if p.is_file() and _ATOMIC_TEMPORARY.match(p.name):
                p.unlink(missing_ok=True)
                removed.append(p.name)
    return sorted(removed)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Records of a JSONL file; a malformed line raises with its line number."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


class OutsideDataError(ValueError):
    """A path read from a data file leads outside the data folder."""


_OUTSIDE_ALLOWED = contextvars.ContextVar("mgrd_outside_data_allowed", default=False)


@contextmanager
def outside_data_allowed(allowed: bool = True) -> Iterator[None]:
    """Within this block `data_path` accepts paths that leave their data folder (`--allow-outside-data`)."""
    token = _OUTSIDE_ALLOWED.set(allowed)
    try:
        yield
    finally:
        _OUTSIDE_ALLOWED.reset(token)


def data_path(root: str | os.PathLike, relative: str | os.PathLike, what: str) -> Path:
    """`relative` (a path written in a data file) joined to `root`, refused when it leads outside `root`.

    Absolute paths, `..` and symbolic links are judged by where they lead: the path is resolved
    (links followed) and must stay inside the resolved `root`. Inside `outside_data_allowed()` any
    path is accepted. Raises OutsideDataError naming the file's entry and the folder.
    """
    root = Path(root)
    path = Path(relative)
    path = path if path.is_absolute() else root / path
    if _OUTSIDE_ALLOWED.get():
        return path
    resolved, folder = path.resolve(), root.resolve()
    if not resolved.is_relative_to(folder):
        raise OutsideDataError(f"{what}: the path {str(relative)!r} leads outside the data folder {folder}; paths in "
                               "data files must stay inside it (pass --allow-outside-data to allow others)")
    return path
