"""From scored rows to `scores.json`: per task, budget, seed and category, official and robust;
`score_run` grades stored records and writes `scored.jsonl` and `scores.json`."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from mgrd.evaluation.grading import SCORING_VERSION, grade_records
from mgrd.evaluation.statistics import summarise
from mgrd.evaluation.sweep import UNLIMITED, budget_sort_key
from mgrd.io import write_json_atomic, write_jsonl_atomic
from mgrd.remote import Judge
from mgrd.tasks.base import Task


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rule(rows: list[dict], rule: str, seeds: list[int]) -> dict:
    per_seed = []
    pooled = []
    for seed in seeds:
        values = [r[rule] for r in rows if r["seed"] == seed and r[rule] is not None]
        if values:
            per_seed.append(sum(values) / len(values))
        pooled += values
    return summarise(per_seed, pooled)


def _budget_block(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["status"] == "ok"]
    seeds = sorted({r["seed"] for r in rows})
    block = {"official": _rule(ok, "official", seeds), "robust": _rule(ok, "robust", seeds),
             "items": len({r["item_id"] for r in rows}), "records": len(rows),
             "failed": sum(r["status"] != "ok" for r in rows),
             "failed_items": sorted({r["item_id"] for r in rows if r["status"] != "ok"})[:50],
             "unscored_official": sum(r["official"] is None for r in ok),
             "unscored_robust": sum(r["robust"] is None for r in ok),
             "unscored_reasons": {rule: dict(Counter(r.get("unscored", {}).get(rule, "unknown") for r in ok
                                                     if r[rule] is None)) for rule in ("official", "robust")},
             "first_error": next((r["error"] for r in rows if r["status"] != "ok" and r.get("error")), ""),
             "not_well_formed": sum(not r.get("well_formed") for r in ok),
             "seeds": {}, "categories": {}, "differences": dict(Counter(r["difference"] for r in ok if r["difference"]))}
    for seed in seeds:
        mine = [r for r in rows if r["seed"] == seed]
        block["seeds"][str(seed)] = {
            rule: _mean([r[rule] for r in mine if r["status"] == "ok" and r[rule] is not None])
            for rule in ("official", "robust")} | {"failed": sum(r["status"] != "ok" for r in mine)}
    keys = sorted({k for r in ok for k in r["breakdown"]})
    for key in keys:
        groups = defaultdict(list)
        for r in ok:
            groups[r["breakdown"].get(key, "")].append(r)
        block["categories"][key] = {
            value: {"official": _mean([r["official"] for r in g if r["official"] is not None]),
                    "robust": _mean([r["robust"] for r in g if r["robust"] is not None]), "n": len(g)}
            for value, g in sorted(groups.items())}
    tokens = [r["reasoning_tokens"] for r in ok if r.get("reasoning_tokens") is not None]
    block["reasoning_tokens_mean"] = _mean(tokens)
    block["reasoning_words_mean"] = _mean([r["reasoning_words"] for r in ok])
    block["grounding_mean"] = _mean([r["grounding"] for r in ok if r.get("grounding") is not None])
    return block


def build_scores(rows: Sequence[dict], tasks: Mapping[str, Mapping]) -> dict:
    """`tasks[name]` holds `version`, `scale` (paper scale: 100 for accuracy, 10 for 1–10 judges)
    and `judged`. Failed records are excluded from every denominator and counted in `failed`."""
    out = {"tasks": {}, "average": {}}
    for name, info in tasks.items():
        mine = [r for r in rows if r["task"] == name]
        budgets = sorted({r["budget"] for r in mine}, key=budget_sort_key)
        out["tasks"][name] = {**dict(info), "budgets": {
            (UNLIMITED if b is None else str(b)): {"budget": b, **_budget_block([r for r in mine if r["budget"] == b])}
            for b in budgets}}
    labels = sorted({lab for t in out["tasks"].values() for lab in t["budgets"]},
                    key=lambda s: budget_sort_key(None if s == UNLIMITED else int(s)))
    for label in labels:
        entry = {}
        for rule in ("official", "robust"):
            values = {name: t["budgets"][label][rule]["mean"] * t.get("scale", 100.0)
                      for name, t in out["tasks"].items()
                      if label in t["budgets"] and t["budgets"][label][rule]["mean"] is not None}
            entry[rule] = {"mean": _mean(list(values.values())), "tasks": values}
        out["average"][label] = entry
    failed = [r for r in rows if r["status"] != "ok"]
    out["requests"] = {"total": len(rows), "failed": len(failed),
                       "first_error": next((r["error"] for r in failed if r.get("error")), "")}
    return out


def score_run(out: Path, records: Sequence[dict], graders: Mapping[str, Task], task_infos: Mapping[str, dict],
              judge: Judge | None, judge_templates: Mapping[str, str], extra_rows: Sequence[dict] = ()) -> dict:
    """Grade `records` (plus already scored `extra_rows`), write `scored.jsonl` and `scores.json`."""
    rows = grade_records(records, graders, judge=judge, judge_templates=judge_templates) + list(extra_rows)
    write_jsonl_atomic(out / "scored.jsonl", rows)
    scores = build_scores(rows, {n: {k: task_infos[n][k] for k in ("version", "scale", "judged")}
                                 for n in task_infos})
    scores["scoring_version"] = SCORING_VERSION
    write_json_atomic(out / "scores.json", scores)
    return scores
