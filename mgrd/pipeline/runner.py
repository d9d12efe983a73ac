"""Stage bookkeeping of a pipeline run: one directory per stage, commit markers keyed by settings, inputs and code.

A stage's key is the hash of its own settings, of the keys of the stages it reads from and of the
code it runs (mgrd.pipeline.code), so a changed setting or a changed module upstream changes every
key downstream (a Merkle chain, as build systems do). A stage is done when `STAGE/DONE.json`
records its key; the marker holds the stage's typed output (mgrd.pipeline.artifacts), which a
skipped stage gives back as it was. A stage directory whose `KEY` differs from the current key
holds work for other inputs and is cleared; one with the same key and no marker is an interrupted
stage, and the trainers inside resume from their last committed checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from mgrd.io import write_json_atomic, write_text_atomic
from mgrd.pipeline.artifacts import decode, encode, intact, normalized
from mgrd.pipeline.code import code_digest

FORMAT = "mgrd-pipeline/2"
DONE = "DONE.json"
KEY = "KEY"
T = TypeVar("T")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class StageInterrupted(RuntimeError):
    """A trainer stopped on SIGTERM after committing a checkpoint; rerunning resumes."""


def stage_key(name: str, settings: Any, upstream: Sequence[str] = (), code: str = "") -> str:
    """sha256 (16 hex) of the stage's name, settings (plain data), upstream keys and code digest."""
    blob = json.dumps({"format": FORMAT, "stage": name, "settings": settings, "upstream": list(upstream),
                       "code": code}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StageResult(Generic[T]):
    """A finished stage: its key, its typed output (an artifact dataclass), wall time, whether it was reused."""

    name: str
    key: str
    output: T
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
              work: Callable[[Path], T], *, code: Sequence[str] = ()) -> StageResult[T]:
        """Run `work(stage_dir) -> output` unless the stage is done with the same key.

        `code`: the modules the stage runs (its pipeline module and the trainers it calls); their
        closure's sources enter the key (mgrd.pipeline.code).
        """
        keys = [u.key if isinstance(u, StageResult) else u for u in upstream]
        key = stage_key(name, settings, keys, code_digest(code) if code else "")
        sdir = self.run_dir / name
        for where in (self.run_dir, *self.shared):
            reused = self._done(where, name, key)
            if reused is not None:
                self.log(f"[skip] {name}: done ({reused.wall_s:.0f} s)" if where == self.run_dir
                         else f"[shared] {name}: done in {where}")
                return reused
        if sdir.exists() and (not (sdir / KEY).is_file() or (sdir / KEY).read_text().strip() != key):
            self.log(f"[redo] {name}: its inputs, settings or code changed")
            shutil.rmtree(sdir)
        elif (sdir / DONE).is_file():
            self.log(f"[redo] {name}: a file it wrote changed on disk")
            shutil.rmtree(sdir)
        resumed = (sdir / KEY).is_file()
        sdir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(sdir / KEY, key + "\n")
        previous = float(read_json(sdir / "wall.json").get("wall_s", 0.0)) if (sdir / "wall.json").is_file() else 0.0
        self.log(f"[{'resume' if resumed else 'run'}] {name}")
        t0 = time.perf_counter()
        try:
            output = normalized(work(sdir))
        finally:
            write_json_atomic(sdir / "wall.json", {"wall_s": previous + time.perf_counter() - t0})
        wall = previous + time.perf_counter() - t0
        write_json_atomic(sdir / DONE, {"key": key, "stage": name, "output": encode(output), "wall_s": wall,
                                        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        result = StageResult(name, key, output, wall, False)
        self.results[name] = result
        self.log(f"[done] {name} in {wall:.0f} s")
        return result

    def _done(self, run_dir: Path, name: str, key: str) -> StageResult | None:
        """The result recorded in run_dir/name/DONE.json when it was made with `key` and its files are intact."""
        marker = run_dir / name / DONE
        done = read_json(marker) if marker.is_file() else {}
        if done.get("key") != key or "output" not in done:
            return None
        output = decode(done["output"])
        if not intact(output):
            return None
        result = StageResult(name, key, output, float(done.get("wall_s", 0.0)), True)
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
    """summary.json from the stages' typed outputs (see docs/pipeline.md for the schema)."""
    from mgrd.pipeline import outputs as O
    from mgrd.pipeline.artifacts import EvalResult
    from mgrd.pipeline.verdicts import claims

    summary: dict[str, Any] = {"recipe": recipe_name, "run_dir": str(run_dir), "finished": finished_run,
                               "wall_s": sum(r.wall_s for r in results.values()),
                               "stages": [{"name": r.name, "wall_s": r.wall_s} for r in results.values()],
                               "evals": {}, "rl": {}, "distill": {}, "curation": {}}
    for r in results.values():
        out, iteration = r.output, r.name.split("/")[0]
        if isinstance(out, EvalResult):
            summary["evals"][out.name] = out.load()
        elif isinstance(out, O.RLTrained):
            summary["rl"][r.name] = [dict(vars(p)) for p in out.series]
        elif isinstance(out, O.Distilled):
            summary["distill"][iteration] = out.report.summary()
        elif isinstance(out, O.Curated):
            summary["curation"][iteration] = out.report.summary()
        elif isinstance(out, O.CognitionTrained):
            summary["cognition"] = dict(vars(out.report))
        elif isinstance(out, O.EncoderTrained) and out.probes:
            summary.setdefault("perception", {})["encoder"] = dict(out.probes) | {"stage": "encoder_pretrain"}
        elif isinstance(out, O.BaseModel) and out.probes:   # an encoder stage of this run, if any, comes later
            summary.setdefault("perception", {})["encoder"] = dict(out.probes) | {"stage": "base (when made)"}
        elif isinstance(out, O.DataSet):
            summary["data"] = out.summary()
            if out.source == "world":
                summary["world"] = out.world_summary()
    summary["claims"] = claims(summary)   # the paper's claims, each with its paired interval and verdict
    write_json_atomic(run_dir / "summary.json", summary)
    return summary
