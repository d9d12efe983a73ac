"""Content hashes that key the cache: model identity, prompts with their audio bytes, settings."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mgrd.remote.store import stable_hash

_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes; remembered per (path, size, mtime) for the life of the process."""
    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 23), b""):
                digest.update(block)
        _FILE_HASHES[memo] = digest.hexdigest()
    return _FILE_HASHES[memo]


def checkpoint_identity(model_dir: str | os.PathLike) -> dict:
    """{"kind": "checkpoint", "name", "sha256"}: the hash covers every file of the directory (config,
    weights, tokenizer), so any change to what is loaded changes the identity."""
    root = Path(model_dir)
    if not (root / "config.json").is_file():
        raise FileNotFoundError(f"{root} has no config.json; expected a checkpoint directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(root).parts))
    entries = [[p.relative_to(root).as_posix(), file_sha256(p)] for p in files]
    return {"kind": "checkpoint", "name": root.name, "sha256": stable_hash(entries)}


def prompt_hash(messages: list) -> str:
    """Hash of chat messages with every audio path replaced by the sha256 of its bytes."""
    def part(p):
        if isinstance(p, dict) and p.get("type") == "audio" and isinstance(p.get("audio"), (str, os.PathLike)):
            return {"type": "audio", "sha256": file_sha256(p["audio"])}
        return p

    canon = [{**m, "content": [part(p) for p in m["content"]] if isinstance(m.get("content"), list) else m.get("content")}
             for m in messages]
    return stable_hash(canon)
