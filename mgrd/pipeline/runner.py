"""Stage bookkeeping of a pipeline run: one directory per stage, commit markers keyed by inputs and config.

A stage's key is the hash of its own settings and of the keys of the stages it reads from, so a
changed setting upstream changes every key downstream (a Merkle chain, as build systems do). A
stage is done when `STAGE/DONE.json` records its key. A stage directory whose `KEY` differs from
the current key holds work for other inputs and is cleared; one with the same key and no marker
is an interrupted stage, and the trainers inside resume from their last committed checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mgrd.io import write_json_atomic, write_text_atomic

FORMAT = "mgrd-pipeline/1"
DONE = "DONE.json"
KEY = "KEY"


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class StageInterrupted(RuntimeError):
    """A trainer stopped on SIGTERM after committing a checkpoint; rerunning resumes."""


def stage_key(name: str, settings: Any, upstream: Sequence[str] = ()) -> str:
    """sha256 (16 hex) of the stage's name, settings (plain data) and upstream keys."""
    blob = json.dumps({"format": FORMAT, "stage": name, "settings": settings, "upstream": list(upstream)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class StageResult:
    name: str
    key: str
    info: dict
    wall_s: float
    skipped: bool


@dataclass
class Runner:
    """Runs stages in a run directory, skipping done ones; `log` prints what happens."""

    run_dir: Path
    log: Callable[[str], None] = print
    shared: Sequence[Path] = ()
    results: dict[str, StageResult] = field(default_factory=dict)

    def stage(self, name: str, settings: Any, upstream: Sequence[StageResult | str],
              work: Callable[[Path], dict]) -> StageResult:
        """Run `work(stage_dir) -> info` unless the stage is done with the same key."""
        keys = [u.key if isinstance(u, StageResult) else u for u in upstream]
        key = stage_key(name, settings, keys)
        sdir = self.run_dir / name
        marker = sdir / DONE
        for where in (self.run_dir, *self.shared):
            reused = self._done(where, name, key)
            if reused is not None:
                self.log(f"[skip] {name}: done ({reused.wall_s:.0f} s)" if where == self.run_dir
                         else f"[shared] {name}: done in {where}")
                return reused
        if sdir.exists() and (not (sdir / KEY).is_file() or (sdir / KEY).read_text().strip() != key):
            self.log(f"[redo] {name}: its inputs or settings changed")
            shutil.rmtree(sdir)
        resumed = (sdir / KEY).is_file()
        sdir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(sdir / KEY, key + "\n")
        previous = float(read_json(sdir / "wall.json").get("wall_s", 0.0)) if (sdir / "wall.json").is_file() else 0.0
        self.log(f"[{'resume' if resumed else 'run'}] {name}")
        t0 = time.perf_counter()
        try:
            info = work(sdir)
        finally:
            write_json_atomic(sdir / "wall.json", {"wall_s": previous + time.perf_counter() - t0})
        wall = previous + time.perf_counter() - t0
        write_json_atomic(marker, {"key": key, "stage": name, "info": info, "wall_s": wall,
                                   "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        result = StageResult(name, key, info, wall, False)
        self.results[name] = result
        self.log(f"[done] {name} in {wall:.0f} s")
        return result

    def _done(self, run_dir: Path, name: str, key: str) -> StageResult | None:
        """The result recorded in run_dir/name/DONE.json when it was made with `key`."""
        marker = run_dir / name / DONE
        done = read_json(marker) if marker.is_file() else {}
        if done.get("key") != key:
            return None
        result = StageResult(name, key, done.get("info", {}), float(done.get("wall_s", 0.0)), True)
        self.results[name] = result
        return result


def finished(train_result) -> Any:
    """The trainer's result, or StageInterrupted when it stopped on SIGTERM."""
    if train_result.preempted:
        raise StageInterrupted(f"stopped after step {train_result.steps}; checkpoint committed in "
                               f"{train_result.run_dir}; rerun the same command to resume")
    return train_result


def rl_series(metrics_path: Path, keys: Sequence[str] = ("reward", "accuracy", "reasoning_tokens")) -> list[dict]:
    """Per-iteration RL metrics from a trainer's metrics.jsonl (the last record of each step)."""
    if not metrics_path.is_file():
        return []
    by_step: dict[int, dict] = {}
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_step[int(row.get("step", 0))] = row
    return [{"iteration": s, **{k: by_step[s].get(k) for k in keys}} for s in sorted(by_step)]


def write_summary(run_dir: Path, recipe_name: str, results: Mapping[str, StageResult], *, finished_run: bool) -> dict:
    """summary.json from the stages' markers (see docs/pipeline.md for the schema)."""
    summary: dict[str, Any] = {"recipe": recipe_name, "run_dir": str(run_dir), "finished": finished_run,
                               "wall_s": sum(r.wall_s for r in results.values()),
                               "stages": [{"name": r.name, "wall_s": r.wall_s} for r in results.values()],
                               "evals": {}, "rl": {}, "distill": {}, "curation": {}}
    for r in results.values():
        info = r.info
        if "eval" in info:
            summary["evals"][info.get("eval_name", r.name)] = info["eval"]
        if "rl" in info:
            summary["rl"][r.name] = info["rl"]
        if "distill" in info:
            summary["distill"][r.name.split("/")[0]] = info["distill"]
        if "curation" in info:
            summary["curation"][r.name.split("/")[0]] = info["curation"]
        if "cognition" in info:
            summary["cognition"] = info["cognition"]
        if "world" in info:
            summary["world"] = info["world"]
    write_json_atomic(run_dir / "summary.json", summary)
    return summary
