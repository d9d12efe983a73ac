"""Content hashes that key the cache: model identity, prompts with their audio bytes, settings."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mgrd.remote.store import stable_hash

_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike, *, remember: bool = True) -> str:
    """sha256 of a file's bytes; remembered per (path, size, mtime) for the life of the process
    (`remember=False`: always read again)."""
    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _FILE_HASHES or not remember:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 23), b""):
                digest.update(block)
        _FILE_HASHES[memo] = digest.hexdigest()
    return _FILE_HASHES[memo]


# The small files a checkpoint load reads besides the weights (config, index, tokenizer).
LOADED_METADATA = ("config.json", "generation_config.json", "model.safetensors.index.json", "tokenizer.json",
                   "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
                   "merges.txt")


def safetensors_fingerprint(path: str | os.PathLike) -> str:
    """sha256 of a safetensors file's header (tensor names, dtypes, shapes, offsets) with its size and
    modification time: cheap (a few KiB read), and any rewrite of the file changes it."""
    path = Path(path)
    stat = path.stat()
    with open(path, "rb") as f:
        prefix = f.read(8)
        size = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
        header = f.read(min(size, 100 * 1024 * 1024))
    return stable_hash({"header": hashlib.sha256(prefix + header).hexdigest(), "size": stat.st_size,
                        "mtime_ns": stat.st_mtime_ns})


def checkpoint_identity(model_dir: str | os.PathLike, *, full_hash: bool = False) -> dict:
    """{"kind": "checkpoint", "name", "sha256"}: covers exactly the files a load reads: the config,
    index and tokenizer files (their bytes), and every weight file the index names (by its safetensors
    header, size and modification time: no need to read tens of GB at each start; by its bytes with
    `full_hash`)."""
    from mgrd.model.checkpoint import weight_files
    from mgrd.model.lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADAPTOR_WEIGHTS, is_adapter_dir, read_adapter

    root = Path(model_dir)
    weigh = (lambda f: file_sha256(f, remember=False)) if full_hash else safetensors_fingerprint
    if is_adapter_dir(root):   # a LoRA adapter: its own files and its base's identity
        base = checkpoint_identity(read_adapter(root).base, full_hash=full_hash)
        entries = [["base", base["sha256"]], [ADAPTER_CONFIG, file_sha256(root / ADAPTER_CONFIG)]]
        entries += [[name, weigh(root / name)] for name in (ADAPTER_WEIGHTS, ADAPTOR_WEIGHTS) if (root / name).is_file()]
        entries += [[name, file_sha256(root / name)] for name in LOADED_METADATA if (root / name).is_file()]
        return {"kind": "checkpoint", "name": root.name, "sha256": stable_hash(entries),
                "weights_hash": base["weights_hash"]}
    if not (root / "config.json").is_file():
        raise FileNotFoundError(f"{root} has no config.json; expected a checkpoint directory")
    entries = [[name, file_sha256(root / name)] for name in LOADED_METADATA if (root / name).is_file()]
    for file in sorted(set(weight_files(root).values())):
        entries.append([file.relative_to(root).as_posix(), weigh(file)])
    return {"kind": "checkpoint", "name": root.name, "sha256": stable_hash(entries),
            "weights_hash": "full" if full_hash else "header+size+mtime"}


def prompt_hash(messages: list) -> str:
    """Hash of chat messages with every audio path replaced by the sha256 of its bytes."""
    def part(p):
        if isinstance(p, dict) and p.get("type") == "audio" and isinstance(p.get("audio"), (str, os.PathLike)):
            return {"type": "audio", "sha256": file_sha256(p["audio"])}
        return p

    canon = [{**m, "content": [part(p) for p in m["content"]] if isinstance(m.get("content"), list) else m.get("content")}
             for m in messages]
    return stable_hash(canon)
