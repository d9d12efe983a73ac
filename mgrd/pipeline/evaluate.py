"""The pipeline's held-out evaluation through `mgrd.evaluation`.

`evaluate` turns held-out world records into a world task, runs it with `mgrd.evaluation.run_eval`
(cache, resume, scoring, per-category breakdown, a seed of its own for every item) on any backend,
and reads the stored records back into the summary schema of docs/pipeline.md: per-budget accuracy
with intervals, and per-item scores, grounding and self-cognition outcomes in a fixed item order, so
that every claim can be paired by item. Budget 0 is `--no-think`, None is unlimited reasoning.
"""

from __future__ import annotations

import functools
import json
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from mgrd.data.records import Record
from mgrd.evaluation import EvalConfig, RecordStore, run_eval
from mgrd.inference.backend import SEED_RULE, Backend
from mgrd.evaluation.statistics import mean_ci, summarise, wilson_interval
from mgrd.pipeline.perception import chain_claims, text_control, verbalisation
from mgrd.progress import progress_hook
from mgrd.scoring.grounding import verify_grounding
from mgrd.tasks.world import WorldTask, record_item
from mgrd.training.cognition import denies_hearing


def budget_key(budget: int | None) -> str:
    return "unlimited" if budget is None else str(budget)


def eval_sets(records: Sequence[Record], *, items: int, probes: int) -> tuple[list[Record], list[Record]]:
    """The first `items` audio items and `probes` self-cognition questions of a held-out split: probes on a
    clip ("Can you hear this?") and the questions about hearing that text corpora teach models to deny."""
    from mgrd.pipeline.data import is_audio_item, is_bait, is_probe

    return ([r for r in records if is_audio_item(r)][:items],
            [r for r in records if is_probe(r) or is_bait(r)][:probes])


def self_cognition_errors(probes: Sequence[Record], responses: Sequence[str | None]) -> list[int | None]:
    """Per probe: 1 when the response denies being able to hear, 0 when not, None when none came back.

    The one place the self-cognition grader is called: swap the rule here for another grader.
    """
    return [None if text is None else int(denies_hearing(text)) for _, text in zip(probes, responses)]


def run_task(task: WorldTask, backend: Backend, budgets: Sequence[int | None], out: Path, *, max_tokens: int,
             temperature: float, on_progress: Callable[[str], None] | None, seed: int = 0
             ) -> tuple[dict, dict[tuple[str, str], dict]]:
    """run_eval on `task` (each item sampled with its own seed from `seed`); (scores.json,
    {(item id, budget label): {row of scored.jsonl, text, reasoning}})."""
    config = EvalConfig(budgets=tuple(budgets), seeds=1, seed=seed, max_tokens=max_tokens, temperature=temperature,
                        top_p=1.0)
    progress = progress_hook(f"eval {task.name}", unit="requests", enabled=on_progress is not None)
    scores = run_eval({task.name: task}, backend, config, out, progress=progress, write_report=False)
    from mgrd.evaluation.report import write_report

    write_report(out, plots=False)   # the evaluation's own tables; the pipeline report draws the figures
    store = RecordStore(out / "cache")
    rows = {}
    for line in (out / "scored.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        record = store.get(row["key"]) or {}
        rows[(row["item_id"], budget_key(row["budget"]))] = {**row, "text": record.get("text", ""),
                                                             "reasoning": record.get("reasoning", ""),
                                                             "answer": record.get("answer", "")}
    return scores, rows


def _score(row: dict | None) -> float | None:
    """An item's score: a failed request (or none) is missing; an answer that matches nothing is wrong."""
    if row is None or row["status"] != "ok":
        return None
    return float(row["official"] or 0.0)


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _interval(values: Sequence[float | None]) -> list[float] | None:
    known = [v for v in values if v is not None]
    return summarise([_mean(known)], known)["ci95"] if known else None


def _t_interval(values: Sequence[float | None]) -> list[float] | None:
    """The t interval of a mean of graded scores in [0, 1] (grounding), clipped to [0, 1]."""
    ci = mean_ci([v for v in values if v is not None])
    return None if ci is None else [max(0.0, ci[1]), min(1.0, ci[2])]


def _families(items: Sequence[Record], scores: dict[str, list], think: str) -> dict:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(items):
        groups[r.family].append(i)
    out = {}
    for family, index in sorted(groups.items()):
        entry = {"think": _mean([scores[think][i] for i in index]) if think in scores else None,
                 "no_think": _mean([scores["0"][i] for i in index]) if "0" in scores else None}
        out[family] = {k: v for k, v in entry.items() if v is not None} | {"items": len(index)}
    return out


def _categories(items: Sequence[Record], scores: Sequence[float | None]) -> dict:
    """Accuracy per category (family/kind, the world task's category) from the per-item scores."""
    groups: dict[str, list[float | None]] = defaultdict(list)
    for r, score in zip(items, scores):
        groups[f"{r.family}/{r.kind}"].append(score)
    return {c: {"accuracy": _mean(v), "n": len(v)} for c, v in sorted(groups.items())}


def _grounding(record: Record, row: dict | None) -> float | None:
    """The verifier's score of the item's reasoning against its facts; 0 for an empty chain, None if failed."""
    if row is None or row["status"] != "ok":
        return None
    chain = row["reasoning"].strip()
    return verify_grounding(chain, [f.__dict__ for f in record.facts]).score if chain else 0.0


def _example(record: Record, row: dict, score: float | None) -> dict:
    return {"id": record.id, "family": record.family, "question": record.question, "answer": record.answer,
            "reasoning": row["reasoning"].strip(), "prediction": row["answer"], "correct": bool((score or 0) >= 1.0)}


def evaluate(backend: Backend, items: Sequence[Record], probes: Sequence[Record], root: str | os.PathLike,
             out: str | os.PathLike, *, budgets: Sequence[int | None], max_tokens: int, temperature: float = 0.0,
             seed: int = 0, examples: int = 3, describe: int = 0, text_items: Sequence[Record] = (),
             on_progress: Callable[[str], None] | None = None) -> dict:
    """Accuracy by budget and family, reasoning length, grounding and self-cognition error, per item and
    in aggregate (the `evals.<stage>` schema of docs/pipeline.md); evaluation files go under `out`.

    Each item is sampled with its own seed (derived from `seed` and the item's id), the same at every
    budget and every stage, so scores pair by item. Also the perception ladder's verbal rungs
    (the first `describe` items described, and the chains' claims), self-cognition on held-out probes
    (as many as `probes`), and the text control on `text_items` (mgrd.pipeline.perception).
    """
    if not budgets:
        raise ValueError("evaluate needs at least one thinking budget (0 = no thinking, None = unlimited)")
    out = Path(out)
    run = functools.partial(run_task, seed=seed)
    task = WorldTask([record_item(r, root) for r in items], name="world")
    labels = [budget_key(b) for b in budgets]
    think = budget_key(None if None in budgets else max(b for b in budgets if b is not None))
    scores_json, rows = run(task, backend, budgets, out / "items", max_tokens=max_tokens, temperature=temperature,
                            on_progress=on_progress) if items else ({}, {})
    ids = [r.id for r in items]
    scores = {label: [_score(rows.get((i, label))) for i in ids] for label in labels}
    think_rows = [rows.get((i, think)) for i in ids]
    grounding = [_grounding(r, row) for r, row in zip(items, think_rows)]
    tokens = [row["reasoning_tokens"] for row in think_rows if row and row["status"] == "ok"]
    shown = [_example(r, row, s) for r, row, s in zip(items, think_rows, scores[think]) if row and row["status"] == "ok"]
    result = {"accuracy": {"think": _mean(scores[think]), "no_think": _mean(scores["0"]) if "0" in scores else None},
              "think_budget": think,
              "budgets": {label: _mean(v) for label, v in scores.items()},
              "budgets_ci95": {label: _interval(v) for label, v in scores.items()},
              "failed": {label: sum(v is None for v in values) for label, values in scores.items()},
              "per_family": _families(items, scores, think),
              "per_category": {"think": _categories(items, scores[think]),
                               "no_think": _categories(items, scores["0"]) if "0" in scores else {}},
              "reasoning_tokens": _mean(tokens), "grounding": _mean(grounding),
              "grounding_ci95": _t_interval(grounding),
              "items": len(items), "examples": shown[:examples],
              "per_item": {"ids": ids, "scores": scores, "grounding": grounding},
              "sampling": {"temperature": temperature, "top_p": 1.0, "max_tokens": max_tokens, "seed": seed,
                           "seeds": f"one per item: {SEED_RULE}"},
              "evaluation": {"dir": str(out), "scoring_version": scores_json.get("scoring_version"),
                             "run": scores_json.get("run")}}
    result.update(_self_cognition(run, backend, probes, root, out / "probes", max_tokens=max_tokens,
                                  temperature=temperature, on_progress=on_progress))
    result.update(_independent_self_cognition(run, backend, items, len(probes), root, out / "heldout_probes",
                                              seed=seed, max_tokens=max_tokens, temperature=temperature,
                                              on_progress=on_progress))
    result["ladder"] = {"chains": chain_claims(items, [row["reasoning"] if row and row["status"] == "ok" else ""
                                                       for row in think_rows]),
                        "verbalisation": verbalisation(run, backend, items[:describe], root, out / "describe",
                                                       max_tokens=min(max_tokens, 96), temperature=temperature,
                                                       on_progress=on_progress)}
    result["text_control"] = text_control(run, backend, text_items, root, out / "text", max_tokens=max_tokens,
                                          temperature=temperature, on_progress=on_progress)
    return result


def _independent_self_cognition(run, backend: Backend, items: Sequence[Record], n: int, root: str | os.PathLike,
                                out: Path, *, seed: int, max_tokens: int, temperature: float,
                                on_progress: Callable[[str], None] | None) -> dict:
    """Self-cognition on held-out probes whose wording the training never saw, graded by the independent
    rule (mgrd.scoring.cognition), with the DPO filter's rate on the same replies beside it."""
    from mgrd.data.world.probes import heldout_probes
    from mgrd.evaluation.self_cognition import grade_probe, independent_self_cognition

    held = heldout_probes([r for r in items if len(r.audio) == 1], n, seed=seed) if n else []
    if not held:
        return {}
    task = WorldTask([record_item(r, root) for r in held], name="heldout_probes")
    _, rows = run(task, backend, (None,), out, max_tokens=max_tokens, temperature=temperature,
                       on_progress=on_progress)
    found = [rows.get((r.id, "unlimited")) for r in held]
    replies = [row["text"] if row and row["status"] == "ok" else "" for row in found]
    result = independent_self_cognition(replies, held)
    result["self_cognition_independent_ci95"] = list(wilson_interval(
        round(result["self_cognition_error_independent"] * len(held)), len(held)))
    result["per_heldout_probe"] = {"ids": [r.id for r in held],
                                   "error": [int(grade_probe(t, r).error) for t, r in zip(replies, held)]}
    return result


def _self_cognition(run, backend: Backend, probes: Sequence[Record], root: str | os.PathLike, out: Path, *,
                    max_tokens: int, temperature: float, on_progress: Callable[[str], None] | None) -> dict:
    """The share of probes answered (with unlimited reasoning) by a denial of hearing, per probe too."""
    if not probes:
        return {"self_cognition_error": None, "self_cognition_ci95": None, "probes": 0,
                "per_probe": {"ids": [], "denied": []}}
    task = WorldTask([record_item(r, root) for r in probes], name="probes")
    _, rows = run(task, backend, (None,), out, max_tokens=max_tokens, temperature=temperature,
                  on_progress=on_progress)
    found = [rows.get((r.id, "unlimited")) for r in probes]
    denied = self_cognition_errors(probes, [row["text"] if row and row["status"] == "ok" else None for row in found])
    known = [d for d in denied if d is not None]
    return {"self_cognition_error": _mean(denied),
            "self_cognition_ci95": list(wilson_interval(sum(known), len(known))) if known else None,
            "probes": len(probes), "per_probe": {"ids": [r.id for r in probes], "denied": denied}}


__all__ = ["budget_key", "eval_sets", "evaluate", "run_task", "self_cognition_errors"]
