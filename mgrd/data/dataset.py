"""A dataset directory: published splits of JSONL records, their audio files, and a manifest written last.

Layout:
    DIR/manifest.json           {"format": ..., "splits": {"train": {...settings and counts...}, ...}}
    DIR/<split>.jsonl           one record per line (mgrd.data.records)
    DIR/audio/<id>.flac         16 kHz mono FLAC, referenced by records as "audio/<id>.flac"
    DIR/.parts/<split>/         an unfinished generation: plan.json and finished shards

A split is complete only when the manifest lists it; the manifest is updated after `<split>.jsonl`
is in place, so an interrupted run never looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile

from mgrd.data.records import Record, read_records
from mgrd.io import atomic_path, write_json_atomic

FORMAT = "mgrd-records/1"
MANIFEST = "manifest.json"
AUDIO_DIR = "audio"
PARTS_DIR = ".parts"
SAMPLE_RATE = 16000  # Hz of every stored clip


def read_manifest(root: str | os.PathLike) -> dict:
    """The manifest of a dataset directory; an empty one where none is written yet."""
    path = Path(root) / MANIFEST
    if not path.exists():
        return {"format": FORMAT, "splits": {}}
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r} is not {FORMAT!r}")
    return manifest


def split_info(root: str | os.PathLike, split: str) -> dict | None:
    """What the manifest says about a complete split, or None when the split is not complete."""
    return read_manifest(root)["splits"].get(split)


def split_path(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / f"{split}.jsonl"


def parts_dir(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / PARTS_DIR / split


def audio_relpath(item_id: str, part: int = 0) -> str:
    """`audio/<id>.flac` for the first clip, `audio/<id>-2.flac` for the second, ..."""
    return f"{AUDIO_DIR}/{item_id}.flac" if part == 0 else f"{AUDIO_DIR}/{item_id}-{part + 1}.flac"


def write_audio(path: str | os.PathLike, wave: np.ndarray) -> None:
    """A clip (float, 16 kHz, shape [n]) as 16-bit FLAC, atomically; same samples give the same bytes."""
    wave = np.asarray(wave)
    if wave.ndim != 1 or not len(wave):
        raise ValueError(f"a clip must be a non-empty 1-D array, got shape {wave.shape}")
    with atomic_path(path) as tmp:
        soundfile.write(tmp, np.clip(wave, -1.0, 1.0), SAMPLE_RATE, format="FLAC", subtype="PCM_16")


def write_shard(path: str | os.PathLike, records: Sequence[Record]) -> None:
    """One shard of records, atomically (JSONL)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")


def publish_split(root: str | os.PathLike, split: str, shards: Sequence[str | os.PathLike], info: Mapping) -> Path:
    """Join finished shards into `<split>.jsonl`, then list the split in the manifest, then drop the parts."""
    out = split_path(root, split)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            for shard in shards:
                with open(shard, "rb") as s:
                    shutil.copyfileobj(s, f)
    manifest = read_manifest(root)
    manifest["splits"][split] = dict(info)
    write_json_atomic(Path(root) / MANIFEST, manifest)
    shutil.rmtree(parts_dir(root, split), ignore_errors=True)
    return out


def unpublish_split(root: str | os.PathLike, split: str) -> None:
    """Remove a split: first from the manifest (so it stops looking complete), then its records and audio."""
    manifest = read_manifest(root)
    if split in manifest["splits"]:
        del manifest["splits"][split]
        write_json_atomic(Path(root) / MANIFEST, manifest)
    path = split_path(root, split)
    if path.exists():
        for record in read_records(path):
            for rel in record.audio:
                (Path(root) / rel).unlink(missing_ok=True)
        path.unlink()


def read_split(root: str | os.PathLike, split: str) -> Iterator[Record]:
    """Records of a complete split; raises when the split is missing or unfinished."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no dataset directory at {root}")
    if split_info(root, split) is None:
        done = sorted(read_manifest(root)["splits"])
        unfinished = " (an unfinished generation is in .parts; rerun it to finish)" \
            if parts_dir(root, split).exists() else ""
        raise ValueError(f"split {split!r} is not complete in {root}{unfinished}; complete splits: {done or 'none'}")
    return read_records(split_path(root, split))
