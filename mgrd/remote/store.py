"""Records keyed by content hashes: one JSON file per record, written atomically; only JSON is read back.

Evaluation's result cache and the judge's cache of prompts and replies are such stores.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mgrd.io import write_json_atomic


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of `obj` (sorted keys, no spaces), hex."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RecordStore:
    """Records keyed by a hex `key`, stored at `root/<key[:2]>/<key>.json`.

    A file that is not valid JSON (a write cut by a crash cannot leave one, but a planted or damaged
    file can) is treated as absent and counted in `unreadable`; nothing is unpickled or executed.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.unreadable: set[str] = set()

    def path(self, key: str) -> Path:
        if not key or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"cache keys are lower-case hex digests, got {key!r}")
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        return self._read(self.path(key))

    def put(self, record: dict) -> None:
        write_json_atomic(self.path(record["key"]), record)

    def __iter__(self) -> Iterator[dict]:
        for path in sorted(self.root.glob("??/*.json")):
            record = self._read(path)
            if record is not None:
                yield record

    def _read(self, path: Path) -> dict | None:
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.unreadable.add(str(path))
            return None
        if not isinstance(record, dict) or record.get("key") != path.stem:
            self.unreadable.add(str(path))
            return None
        return record
