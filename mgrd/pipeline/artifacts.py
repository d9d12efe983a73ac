"""What stages hand each other: a model directory, a record file, an evaluation result, each with its digest.

Artifacts and stage outputs are frozen dataclasses registered here by class name; `encode` turns
one into plain JSON data (for DONE.json) and `decode` gives back an equal object, so a skipped
stage returns the same typed values a fresh one does.

Digests: a file's digest is the sha256 of its size and bytes. Files over `FULL_LIMIT` (16 MiB:
every file of the tiny models, whose full hash costs milliseconds) are hashed by size plus their
first and last MiB — a safetensors shard's header (tensor names, shapes, offsets) is at its start,
and reading a 15 GB checkpoint in full at every resume would cost minutes. A model directory's
digest covers config.json, the safetensors index, the tokenizer files and every shard.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from mgrd.io import write_json_atomic

T = TypeVar("T")
MIB = 1 << 20
FULL_LIMIT = 16 * MIB
_TAG = "__artifact__"
_REGISTRY: dict[str, type] = {}


def artifact(cls: type[T]) -> type[T]:
    """Register a frozen dataclass so that DONE.json can hold it (class names are unique)."""
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
        raise TypeError(f"{cls.__name__}: an artifact must be a frozen dataclass")
    if _REGISTRY.get(cls.__name__, cls) is not cls:
        raise TypeError(f"two artifact classes are named {cls.__name__}")
    _REGISTRY[cls.__name__] = cls
    return cls


def encode(value: Any) -> Any:
    """Plain JSON data of an artifact (nested artifacts tagged with their class name)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if type(value).__name__ not in _REGISTRY:
            raise TypeError(f"{type(value).__name__} is not a registered artifact")
        return {_TAG: type(value).__name__,
                **{f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a stage marker: {value!r}")


def decode(data: Any) -> Any:
    """The artifact `encode` made (lists come back as tuples: artifacts hold tuples)."""
    if isinstance(data, Mapping):
        if _TAG in data:
            name = data[_TAG]
            if name not in _REGISTRY:
                raise ValueError(f"unknown artifact type {name!r} in a stage marker; known: {', '.join(_REGISTRY)}")
            return _REGISTRY[name](**{k: decode(v) for k, v in data.items() if k != _TAG})
        return {k: decode(v) for k, v in data.items()}
    if isinstance(data, list):
        return tuple(decode(v) for v in data)
    return data


def normalized(value: T) -> T:
    """`value` as a marker gives it back (tuples for lists): a fresh result equals a reused one."""
    return decode(json.loads(json.dumps(encode(value))))


def file_digest(path: str | os.PathLike) -> str:
    """sha256 (16 hex) of a file's size and bytes; size + first and last MiB above FULL_LIMIT."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(f"{size}\n".encode())
    with open(path, "rb") as f:
        if size <= FULL_LIMIT:
            for block in iter(lambda: f.read(MIB), b""):
                h.update(block)
        else:
            h.update(f.read(MIB))
            f.seek(size - MIB)
            h.update(f.read(MIB))
    return h.hexdigest()[:16]


def files_digest(entries: Mapping[str, str]) -> str:
    """sha256 (16 hex) of (name, digest) pairs, in name order."""
    return hashlib.sha256(json.dumps(sorted(entries.items())).encode()).hexdigest()[:16]


_MODEL_FILES = ("config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "generation_config.json")


def model_digest(model_dir: str | os.PathLike) -> str:
    """Digest of a checkpoint directory: its config, index, tokenizer files and safetensors shards."""
    root = Path(model_dir)
    if not (root / "config.json").is_file():
        raise FileNotFoundError(f"{root} is not a model directory (no config.json)")
    files = [root / n for n in _MODEL_FILES if (root / n).is_file()] + sorted(root.glob("*.safetensors"))
    return files_digest({p.name: file_digest(p) for p in files})


@artifact
@dataclasses.dataclass(frozen=True)
class ModelDir:
    """A checkpoint directory (official layout) and its digest."""

    path: str
    digest: str

    @staticmethod
    def of(path: str | os.PathLike) -> ModelDir:
        path = Path(path).resolve()
        return ModelDir(str(path), model_digest(path))

    def intact(self) -> bool:
        """Whether the directory still holds what was recorded."""
        try:
            return model_digest(self.path) == self.digest
        except FileNotFoundError:
            return False


@artifact
@dataclasses.dataclass(frozen=True)
class RecordFile:
    """A JSONL file of records (trainer or dataset format), its record count and digest."""

    path: str
    digest: str
    records: int

    @staticmethod
    def of(path: str | os.PathLike) -> RecordFile:
        path = Path(path).resolve()
        with open(path, encoding="utf-8") as f:
            n = sum(1 for line in f if line.strip())
        return RecordFile(str(path), file_digest(path), n)

    def intact(self) -> bool:
        return Path(self.path).is_file() and file_digest(self.path) == self.digest


@artifact
@dataclasses.dataclass(frozen=True)
class EvalResult:
    """An evaluation written by its stage: the JSON file (summary schema of one stage), digest, model."""

    name: str
    path: str
    digest: str
    model: ModelDir

    @staticmethod
    def write(path: str | os.PathLike, name: str, result: Mapping, model: ModelDir) -> EvalResult:
        path = Path(path).resolve()
        write_json_atomic(path, dict(result))
        return EvalResult(name, str(path), file_digest(path), model)

    def load(self) -> dict:
        return json.loads(Path(self.path).read_text(encoding="utf-8"))

    def intact(self) -> bool:
        return Path(self.path).is_file() and file_digest(self.path) == self.digest


def intact(value: Any) -> bool:
    """Whether every file artifact inside `value` still has its recorded digest."""
    if callable(getattr(value, "intact", None)) and not value.intact():
        return False
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(intact(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (list, tuple)):
        return all(intact(v) for v in value)
    if isinstance(value, Mapping):
        return all(intact(v) for v in value.values())
    return True
