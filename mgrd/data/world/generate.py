"""Generating a split of the world: a deterministic plan, shards written atomically by worker processes, resume.

Item k of family f in split s with base seed b has the seed `(code(s) << 48) | (b << 24) | k`:
different splits can never share a seed, and an item depends only on (family, seed).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from mgrd.data.dataset import (FORMAT, audio_relpath, parts_dir, publish_split, split_info, unpublish_split,
                               write_audio, write_shard)
from mgrd.data.world.families import NEEDS_VOICE, WEIGHTS, check_families, make_record
from mgrd.data.world.voice import voice_missing
from mgrd.io import write_text_atomic

SPLITS = {"train": 1, "dev": 2, "heldout": 3}
MAX_SEED = 2**24 - 1
MAX_ITEMS = 2**24 - 1  # per family
SHARD_SIZE = 64  # items per shard: the unit of progress, of parallel work and of resumption


@dataclass(frozen=True)
class WorldConfig:
    """What one split holds. Two runs with equal configs write identical files."""

    split: str
    n: int
    families: tuple[str, ...] | None = None
    seed: int = 0
    bait_share: float = 0.25  # share of cognition items that are bait dialogues

    def checked(self) -> WorldConfig:
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; accepted: {', '.join(SPLITS)}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n <= 0:
            raise ValueError(f"n must be a positive number of items, got {self.n!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in 0..{MAX_SEED}, got {self.seed!r}")
        if not 0.0 <= self.bait_share <= 1.0:
            raise ValueError(f"bait_share must be in [0, 1], got {self.bait_share}")
        return WorldConfig(self.split, self.n, check_families(self.families), self.seed, self.bait_share)


def item_seed(split: str, seed: int, k: int) -> int:
    """The seed of item k (0-based, per family) of a split; disjoint across splits and base seeds."""
    if not 0 <= k <= MAX_ITEMS:
        raise ValueError(f"item index {k} is outside 0..{MAX_ITEMS}")
    return (SPLITS[split] << 48) | (seed << 24) | k


def item_id(split: str, family: str, seed: int, k: int) -> str:
    return f"{split}-s{seed}-{family}-{k:06d}"


def allocate(n: int, families: tuple[str, ...]) -> dict[str, int]:
    """Items per family, proportional to WEIGHTS (largest remainders; ties in family order)."""
    total = sum(WEIGHTS[f] for f in families)
    exact = {f: n * WEIGHTS[f] / total for f in families}
    counts = {f: int(exact[f]) for f in families}
    by_remainder = sorted(families, key=lambda f: (-(exact[f] - counts[f]), families.index(f)))
    for f in by_remainder[:n - sum(counts.values())]:
        counts[f] += 1
    return counts


def plan(config: WorldConfig) -> list[tuple[str, int]]:
    """(family, k) of every item, families interleaved evenly so that any prefix is a fair mix."""
    counts = allocate(config.n, config.families)
    entries = [(f, k) for f in config.families for k in range(counts[f])]
    return sorted(entries, key=lambda e: ((e[1] + 0.5) / counts[e[0]], config.families.index(e[0])))


def generate_split(out: str | os.PathLike, config: WorldConfig, *, workers: int = 1, force: bool = False,
                   on_progress: Callable[[int, int], None] | None = None,
                   on_message: Callable[[str], None] | None = None) -> dict:
    """Write (or finish, or confirm) one split in `out`; returns the manifest entry of the split.

    Families that need the voice are skipped, with a message, when it is not installed. A complete split
    with the same settings is left as it is; different settings, or an unfinished run with different
    settings, raise unless `force` (which removes the old split first). `on_progress(done, total)` is
    called as shards finish.
    """
    say = on_message or (lambda _m: None)
    config = config.checked()
    missing = voice_missing()
    skipped = {f: missing for f in config.families if f in NEEDS_VOICE and missing}
    for family, why in skipped.items():
        say(f"skipping the {family} family: {why}")
    if skipped:
        kept = tuple(f for f in config.families if f not in skipped)
        if not kept:
            raise ValueError(f"nothing left to generate: {'; '.join(skipped.values())}")
        config = WorldConfig(config.split, config.n, kept, config.seed, config.bait_share)
    root = _writable_root(out)
    settings = {"format": FORMAT, **asdict(config), "families": list(config.families)}
    done = split_info(root, config.split)
    if done is not None and not force:
        if done.get("settings") == settings:
            say(f"split {config.split!r} is already complete in {root}")
            return done
        raise ValueError(f"split {config.split!r} in {root} was made with other settings {done.get('settings')}; "
                         "pass --force to replace it")
    parts = parts_dir(root, config.split)
    plan_file = parts / "plan.json"
    if plan_file.exists():
        previous = json.loads(plan_file.read_text(encoding="utf-8"))
        if previous != settings and not force:
            raise ValueError(f"an unfinished generation of {config.split!r} with other settings {previous} is in "
                             f"{parts}; rerun with those settings to resume it, or pass --force to start over")
        if previous != settings:
            _clear(parts)
    if force:
        unpublish_split(root, config.split)
    parts.mkdir(parents=True, exist_ok=True)
    write_text_atomic(plan_file, json.dumps(settings, sort_keys=True))

    entries = plan(config)
    shards = [entries[i:i + SHARD_SIZE] for i in range(0, len(entries), SHARD_SIZE)]
    paths = [parts / f"shard-{i:05d}.jsonl" for i in range(len(shards))]
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    if len(todo) < len(shards):
        say(f"resuming: {len(shards) - len(todo)} of {len(shards)} shards already written")
    finished = len(entries) - sum(len(shards[i]) for i in todo)
    if on_progress:
        on_progress(finished, len(entries))
    jobs = [(str(root), str(paths[i]), shards[i], config) for i in todo]
    for count in _run(jobs, workers):
        finished += count
        if on_progress:
            on_progress(finished, len(entries))
    return _publish(root, config.split, paths, settings, skipped)


def write_shard_items(root: str, path: str, entries: list[tuple[str, int]], config: WorldConfig) -> int:
    """Make the records of one shard, write their clips, then the shard file (last: it marks the shard done)."""
    records = []
    for family, k in entries:
        seed = item_seed(config.split, config.seed, k)
        record, clips = make_record(family, seed, item_id(config.split, family, config.seed, k),
                                    split=config.split, bait_share=config.bait_share)
        for i, clip in enumerate(clips):
            write_audio(Path(root) / audio_relpath(record.id, i), clip)
        records.append(record)
    write_shard(path, records)
    return len(records)


def _run(jobs: list[tuple], workers: int):
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield write_shard_items(*job)
        return
    # spawn: workers start clean (no inherited threads or torch state) and load the voice themselves.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for future in as_completed([pool.submit(write_shard_items, *job) for job in jobs]):
            yield future.result()


def _publish(root: Path, split: str, paths: list[Path], settings: dict, skipped: dict) -> dict:
    families, kinds, types = Counter(), Counter(), Counter()
    seconds = 0.0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                families[r["family"]] += 1
                kinds[r["kind"]] += 1
                types[r["question_type"]] += 1
                seconds += r["duration"]
    info = {"settings": settings, "records": sum(families.values()), "families": dict(sorted(families.items())),
            "kinds": dict(sorted(kinds.items())), "question_types": dict(sorted(types.items())),
            "audio_seconds": round(seconds, 2), "skipped": skipped}
    publish_split(root, split, paths, info)
    return info


def _writable_root(out: str | os.PathLike) -> Path:
    root = Path(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"cannot write the dataset to {root}: {e.strerror or e}; choose a writable directory") \
            from None
    return root


def _clear(parts: Path) -> None:
    for p in parts.iterdir():
        p.unlink()
