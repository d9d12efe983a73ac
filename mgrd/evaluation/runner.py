"""Running an evaluation: requests keyed and cached, only missing ones sent, outputs scored, reports written.

A killed run resumes: every record already stored as "ok" is reused and never requested again;
failed records are requested again. Each result is written (atomically) as it arrives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mgrd.evaluation.grading import SCORING_VERSION
from mgrd.evaluation.identity import prompt_hash
from mgrd.evaluation.manifest import build_manifest
from mgrd.evaluation.report import write_report as write_report_files
from mgrd.inference.backend import Backend, GenerationRequest, GenerationResult, item_seed
from mgrd.evaluation.scoreboard import score_run
from mgrd.evaluation.sweep import Setting, settings
from mgrd.io import write_json_atomic
from mgrd.remote import Judge, RecordStore, stable_hash
from mgrd.tasks.base import Task, TaskItem


@dataclass(frozen=True)
class EvalConfig:
    """What to run. `budgets`: thinking budgets (None = unlimited, 0 = no thinking); `seeds`: samples per
    item; `seed`: the base of every item's own sampling seed (`item_seed(seed, sample, item id)`)."""

    budgets: tuple[int | None, ...] = (None,)
    seeds: int = 1
    seed: int = 0
    limit: int | None = None
    prompt: str | None = None                 # overrides every task's default prompt
    max_tokens: int = 32000
    temperature: float = 0.7
    top_p: float = 1.0
    repetition_penalty: float | None = None   # None: the task's official setting, else 1.0
    judge_templates: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass
class Planned:
    task: str
    item: TaskItem
    setting: Setting
    request: GenerationRequest
    prompt_hash: str
    config_hash: str


def task_sampling(task: Task, config: EvalConfig) -> dict:
    official = dict(getattr(task, "sampling", {}))
    return {"max_tokens": config.max_tokens, "temperature": config.temperature, "top_p": config.top_p,
            "repetition_penalty": config.repetition_penalty if config.repetition_penalty is not None
            else float(official.get("repetition_penalty", 1.0))}


def _snapshot(item: TaskItem) -> dict:
    return {"id": item.id, "question": item.question, "answer": item.answer, "audio": list(item.audio),
            "choices": list(item.choices), "category": item.category, "meta": dict(item.meta)}


def plan(tasks: Mapping[str, Task], model: dict, config: EvalConfig) -> list[Planned]:
    """Every (task, item, budget, seed) with its cache key: model identity, task and version, the
    prompt (text and audio bytes), request sampling, budget and seed all go into the key.

    Each item samples with its own seed, `item_seed(config.seed, sweep seed, item id)`: the same at
    every budget (so scores pair by item), different for every item (so a backend that batches
    never gives two items one random stream), and sent as the request's seed to every backend."""
    out = []
    for name, task in tasks.items():
        items = list(task.items())[: config.limit]
        base = task_sampling(task, config)
        config_hash = stable_hash({"model": model, "task": name, "version": task.version,
                                   "prompt": config.prompt, "sampling": base})
        for item in items:
            messages = task.messages(item, prompt=config.prompt)
            p_hash = prompt_hash(messages)
            for s in settings(config.budgets, config.seeds):
                sampling = {**base, "seed": item_seed(config.seed, s.seed, item.id), "thinking_budget": s.budget}
                key = stable_hash({"config": config_hash, "item": item.id, "prompt": p_hash, "sampling": sampling})
                out.append(Planned(name, item, s, GenerationRequest(key, messages, sampling, item.id), p_hash,
                                   config_hash))
    return out


def _record(p: Planned, result: GenerationResult, model: dict, task: Task) -> dict:
    return {"key": p.request.key, "task": p.task, "task_version": task.version, "config_hash": p.config_hash,
            "model": model, "item": _snapshot(p.item), "setting": {"budget": p.setting.budget, "seed": p.setting.seed},
            "prompt_hash": p.prompt_hash, "sampling": dict(p.request.sampling), **result.to_dict(),
            "created": time.time()}


def run_inference(planned: Sequence[Planned], tasks: Mapping[str, Task], backend: Backend, store: RecordStore,
                  *, progress: Callable[[int, int], None] | None = None) -> dict:
    """Send what the store lacks (or holds as failed); store each result as it arrives."""
    by_key = {p.request.key: p for p in planned}
    todo = [p for p in planned if (store.get(p.request.key) or {}).get("status") != "ok"]
    model = backend.identity()
    done = 0
    for result in backend.run(p.request for p in todo):
        p = by_key[result.key]
        store.put(_record(p, result, model, tasks[p.task]))
        done += 1
        if progress:
            progress(done, len(todo))
    return {"planned": len(planned), "cached": len(planned) - len(todo), "requested": len(todo)}


def task_info(name: str, task: Task, planned: Sequence[Planned], config: EvalConfig) -> dict:
    mine = [p for p in planned if p.task == name]
    items = {p.item.id: (p.prompt_hash, p.item.answer) for p in mine}
    return {"version": task.version, "source": getattr(task, "source", ""), "items": len(items),
            "data_sha256": stable_hash(sorted(items.items())), "config_hashes": sorted({p.config_hash for p in mine}),
            "prompt": config.prompt if config.prompt is not None else getattr(task, "default_prompt", None),
            "sampling": task_sampling(task, config), "scale": getattr(task, "score_scale", 100.0),
            "judged": bool(getattr(task, "judged", False)), "breakdowns": list(getattr(task, "breakdowns", ("category",)))}


def run_eval(tasks: Mapping[str, Task], backend: Backend, config: EvalConfig, out: str | Path, *,
             judge: Judge | None = None, progress: Callable[[int, int], None] | None = None,
             write_report: bool = True) -> dict:
    """Evaluate `backend` on `tasks` into `out` (cache/, scored.jsonl, scores.json, manifest.json,
    report.md, plots/); returns scores.json's content plus a `run` summary of cache use."""
    out = Path(out)
    store = RecordStore(out / "cache")
    model = backend.identity()
    planned = plan(tasks, model, config)
    infos = {name: task_info(name, task, planned, config) for name, task in tasks.items()}
    manifest = build_manifest(config={**asdict(config), "budgets": list(config.budgets)}, model=model,
                              judge=judge.identity() if judge else None, tasks=infos, scoring_version=SCORING_VERSION)
    write_json_atomic(out / "manifest.json", manifest)
    summary = run_inference(planned, tasks, backend, store, progress=progress)
    records = [store.get(p.request.key) for p in planned]
    scores = score_run(out, [r for r in records if r is not None], tasks, infos, judge, config.judge_templates)
    if judge is not None:
        write_json_atomic(out / "judge_prompts.json",
                          {n: config.judge_templates.get(n) or getattr(t, "judge_template", None)
                           for n, t in tasks.items() if getattr(t, "judged", False)})
    if write_report:
        write_report_files(out)
    return {**scores, "run": summary}
