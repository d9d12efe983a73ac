"""The report of a pipeline run (and of an ablation over runs), written from `summary.json` alone."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mgrd.evaluation.sweep import UNLIMITED
from mgrd.io import write_text_atomic
from mgrd.pipeline import perception, plots, verdicts

NOT_MEASURED = "not measured"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fmt(value: Any, spec: str, *, scale: float = 1.0, unit: str = "") -> str:
    """A number formatted with `spec` after scaling, "–" when absent."""
    value = _number(value)
    return "–" if value is None else format(value * scale, spec) + unit


def _pct(value: Any) -> str:
    """A fraction in [0, 1] as a percentage with one decimal ("41.0 %")."""
    return _fmt(value, ".1f", scale=100, unit=" %")


def _points(value: Any) -> str:
    """A difference of fractions in percentage points ("+3.0 pp")."""
    return _fmt(value, "+.1f", scale=100, unit=" pp")


def _delta(accuracy: Any) -> float | None:
    """Think − no-think accuracy (a fraction), None unless both were measured."""
    accuracy = accuracy if isinstance(accuracy, Mapping) else {}
    think, plain = _number(accuracy.get("think")), _number(accuracy.get("no_think"))
    return None if think is None or plain is None else think - plain


def _budgets(budgets: Any) -> list[tuple[str, float | None]]:
    """(label, accuracy) by increasing budget, "∞" (unlimited) last; unreadable keys are skipped."""
    budgets = budgets if isinstance(budgets, Mapping) else {}
    finite = sorted((int(k), v) for k, v in budgets.items() if str(k).lstrip("-").isdigit())
    out = [(str(k), _number(v)) for k, v in finite]
    if UNLIMITED in budgets:
        out.append(("∞", _number(budgets[UNLIMITED])))
    return out


def _mapping(obj: Any, key: str) -> dict:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else {}


def _evals(summary: Mapping) -> dict[str, dict]:
    """The evaluated stages in evaluation order (the pipeline writes them in insertion order)."""
    return {k: v for k, v in _mapping(summary, "evals").items() if isinstance(v, Mapping)}


def _rl_stages(summary: Mapping) -> dict[str, list[dict]]:
    return {name: [p for p in points if isinstance(p, Mapping)]
            for name, points in _mapping(summary, "rl").items() if isinstance(points, list)}


def _series(points: list[dict], key: str) -> list[float]:
    return [v for v in (_number(p.get(key)) for p in points) if v is not None]


def _first_last(values: list[float], spec: str) -> str:
    return "–" if not values else f"{format(values[0], spec)} → {format(values[-1], spec)}"


def _duration(seconds: Any) -> str:
    seconds = _number(seconds)
    return "–" if seconds is None else f"{seconds:.1f} s ({seconds / 60:.1f} min)"


def _draw(plot_dir: Path | None, name: str, draw, *args) -> list[str]:
    """The markdown image line of a figure drawn by `draw(plot_dir / name, *args)`; nothing when
    `plot_dir` is None (matplotlib is missing)."""
    if plot_dir is None:
        return []
    return [f"![{name}](plots/{draw(plot_dir / name, *args)})", ""]


# Claims: each a paired difference with its interval, n and the verdict the interval gives.

def _claims(summary: Mapping) -> list[dict]:
    stored = summary.get("claims")
    if isinstance(stored, list) and all(isinstance(c, Mapping) for c in stored):
        return [dict(c) for c in stored]
    return verdicts.claims(summary)


def _claims_section(summary: Mapping) -> list[str]:
    found = _claims(summary)
    lines = ["## Claims of the paper at this scale", "",
             "Each claim is a − b over the items measured on both sides, with its paired 95 % interval "
             "(accuracies and error rates in percentage points, grounding in score units), n and the verdict.", ""]
    return lines + [verdicts.claim_line(c) for c in found] + ([] if found else [f"No claim: {NOT_MEASURED}."]) + [""]


def _think_claim(claims: list[dict], stage: str) -> dict | None:
    return next((c for c in claims if c.get("name") == "think > no-think" and c.get("stage") == stage), None)


# The sections of a run's report, in order.

def _title(summary: Mapping, drawn: bool) -> list[str]:
    finished = summary.get("finished")
    lines = [f"# MGRD run report: {summary.get('recipe', 'unknown recipe')}", "",
             f"- run directory: `{summary.get('run_dir', '–')}`; "
             f"{'finished' if finished else 'partial run (not finished)'}",
             f"- total wall time: {_duration(summary.get('wall_s'))}"]
    if not drawn:
        lines.append(f"- plots not drawn: {plots.INSTALL_HINT}")
    stages = [s for s in summary.get("stages") or [] if isinstance(s, Mapping)]
    lines += ["", "| stage | wall time |", "|---|---|"]
    lines += [f"| {s.get('name', '?')} | {_duration(s.get('wall_s'))} |" for s in stages]
    return lines + ([] if stages else [f"| ({NOT_MEASURED}) | – |"]) + [""]


def _ci(value: Any) -> tuple[float, float] | None:
    """An interval [low, high] of numbers, or None."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_number(v) is not None for v in value):
        return float(value[0]), float(value[1])
    return None


def _with_ci(value: Any, ci: Any, *, percent: bool = True) -> str:
    """"41.0 % [35.2, 46.9]" (or "0.63 [0.58, 0.68]"); the bare value when no interval was stored."""
    text = _pct(value) if percent else _fmt(value, ".2f")
    interval = _ci(ci)
    if _number(value) is None or interval is None:
        return text
    return text + (f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]" if percent
                   else f" [{interval[0]:.2f}, {interval[1]:.2f}]")


def _paired_cell(claim: Mapping | None, acc: Mapping) -> str:
    """Think − no-think with its paired interval and verdict, or the bare difference without per-item data."""
    if claim is None or claim.get("diff") is None:
        return _points(_delta(acc))
    return f"{verdicts.value(claim, claim['diff'], diff=True)} {verdicts.interval(claim)} {claim.get('verdict')}"


def _results(evals: dict, claims: list[dict]) -> list[str]:
    lines = ["## Results by stage", "",
             "| stage | think | no-think | think − no-think [95 % CI] verdict | reasoning tokens | grounding | "
             "self-cognition error | items |", "|---|---|---|---|---|---|---|---|"]
    for name, e in evals.items():
        acc = _mapping(e, "accuracy")
        lines.append(f"| {name} | {_pct(acc.get('think'))} | {_pct(acc.get('no_think'))} | "
                     f"{_paired_cell(_think_claim(claims, name), acc)} | "
                     f"{_fmt(e.get('reasoning_tokens'), '.1f')} | {_fmt(e.get('grounding'), '.2f')} | "
                     f"{_pct(e.get('self_cognition_error'))} | {_fmt(e.get('items'), '.0f')} |")
    return lines + ([] if evals else [f"No stage was evaluated ({NOT_MEASURED})."]) + [""]


def _budget_section(evals: dict, plot_dir: Path | None) -> list[str]:
    per_stage = {name: dict(_budgets(e.get("budgets"))) for name, e in evals.items()}
    cis = {name: {"∞" if k == UNLIMITED else str(k): v for k, v in _mapping(e, "budgets_ci95").items()}
           for name, e in evals.items()}
    labels = [lab for lab, _ in _budgets({k: 0 for e in evals.values() for k in _mapping(e, "budgets")})]
    lines = ["## Accuracy by thinking budget (95 % CI)", ""]
    if not labels:
        return lines + [f"Accuracy by budget: {NOT_MEASURED}.", ""]
    lines += ["| stage | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(_with_ci(acc.get(lab), cis[name].get(lab)) for lab in labels) + " |"
              for name, acc in per_stage.items() if acc]
    curves = {name: [(acc.get(lab), _ci(cis[name].get(lab))) for lab in labels]
              for name, acc in per_stage.items() if acc}
    return lines + [""] + _draw(plot_dir, "budget.png", plots.budget, labels, curves)


def _family_section(final_name: str | None, final: dict) -> list[str]:
    families = {f: v for f, v in _mapping(final, "per_family").items() if isinstance(v, Mapping)}
    lines = [f"## Accuracy per family (final stage: {final_name or NOT_MEASURED})", ""]
    if not families:
        return lines + [f"Per-family accuracy: {NOT_MEASURED}.", ""]
    lines += ["| family | think | no-think | think − no-think | items |", "|---|---|---|---|---|"]
    lines += [f"| {f} | {_pct(v.get('think'))} | {_pct(v.get('no_think'))} | {_points(_delta(v))} | "
              f"{_fmt(v.get('items'), '.0f')} |" for f, v in families.items()]
    return lines + [""]


def _rl_section(summary: Mapping, plot_dir: Path | None) -> list[str]:
    stages = _rl_stages(summary)
    lines = ["## RL: reward and reasoning length", ""]
    if not stages:
        return lines + [f"RL curves: {NOT_MEASURED}.", ""]
    lines += ["| RL stage | iterations | reward (first → last) | accuracy (first → last) | "
              "reasoning tokens (first → last) |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {len(points)} | {_first_last(_series(points, 'reward'), '.3f')} | "
              f"{_first_last([v * 100 for v in _series(points, 'accuracy')], '.1f')} | "
              f"{_first_last(_series(points, 'reasoning_tokens'), '.1f')} |" for name, points in stages.items()]
    return lines + [""] + _draw(plot_dir, "rl.png", plots.rl, stages)


def _grounding_section(summary: Mapping, evals: dict, plot_dir: Path | None) -> list[str]:
    lines = ["## Grounding and self-cognition by stage (95 % CI)", "",
             "| stage | grounding | self-cognition error: independent (held-out probes) | filter rule (training-"
             "template probes) | probes |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {_with_ci(e.get('grounding'), e.get('grounding_ci95'), percent=False)} | "
              f"{_with_ci(e.get('self_cognition_error_independent'), e.get('self_cognition_independent_ci95'))} | "
              f"{_with_ci(e.get('self_cognition_error'), e.get('self_cognition_ci95'))} | "
              f"{_fmt(e.get('heldout_probes'), '.0f')} + {_fmt(e.get('probes'), '.0f')} |" for name, e in evals.items()]
    cognition = _mapping(summary, "cognition")
    lines += ["", "Cognition stage: " + (", ".join(f"{k} {v}" for k, v in cognition.items()) or NOT_MEASURED) + ".",
              ""]
    series = {"grounding": {n: (_number(e.get("grounding")), _ci(e.get("grounding_ci95"))) for n, e in evals.items()},
              "self-cognition error": {n: (_number(e.get("self_cognition_error")), _ci(e.get("self_cognition_ci95")))
                                       for n, e in evals.items()}}
    series = {k: {n: v for n, v in d.items() if v[0] is not None} for k, d in series.items()}
    return lines + (_draw(plot_dir, "grounding.png", plots.grounding, series) if any(series.values()) else [])


def _iteration_section(summary: Mapping) -> list[str]:
    lines = ["## Self-distillation filters", ""]
    distill = {k: v for k, v in _mapping(summary, "distill").items() if isinstance(v, Mapping)}
    for name, report in distill.items():
        lines += [f"**{name}**: kept {report.get('kept', '–')} / {report.get('chains', '–')} chains "
                  f"(keep rate {_pct(report.get('keep_rate'))})", "",
                  "| filter | seen | kept | dropped (reason: count) |", "|---|---|---|---|"]
        for f in (f for f in report.get("filters") or [] if isinstance(f, Mapping)):
            reasons = _mapping(f, "dropped")
            lines.append(f"| {f.get('name', '?')} | {f.get('seen', '–')} | {f.get('kept', '–')} | "
                         + ("; ".join(f"{r}: {n}" for r, n in reasons.items()) or "–") + " |")
        lines.append("")
    if not distill:
        lines += [f"Self-distillation: {NOT_MEASURED}.", ""]
    curation = {k: v for k, v in _mapping(summary, "curation").items() if isinstance(v, Mapping)}
    lines += ["## Curation (pass@k histograms)", ""]
    if not curation:
        return lines + [f"Curation: {NOT_MEASURED}.", ""]
    histograms = {name: list(c.get("histogram") or []) for name, c in curation.items()}
    width = max(len(h) for h in histograms.values())
    header = ["iteration", "strategy", "kept / questions"] + [f"{i} pass" for i in range(width)]
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, c in curation.items():
        kept_range = f" [{c['low']}, {c['high']}]" if c.get("strategy") == "range" and "low" in c else ""
        cells = [name, f"{c.get('strategy', '–')}{kept_range}",
                 f"{c.get('kept', '–')} / {c.get('questions', '–')}"]
        cells += [str(n) for n in histograms[name]] + ["–"] * (width - len(histograms[name]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _examples_section(evals: dict) -> list[str]:
    lines = ["## Example chains (before and after MGRD)", ""]
    names = list(dict.fromkeys(list(evals)[:1] + list(evals)[-1:]))
    shown = False
    for name in names:
        examples = [x for x in evals[name].get("examples") or [] if isinstance(x, Mapping)]
        if examples:
            lines += [f"### {name}", ""]
            shown = True
        for x in examples:
            mark = "correct" if x.get("correct") else "wrong"
            lines += [f"**{x.get('id', '?')}** ({x.get('family', '?')}; answer {x.get('answer', '–')}; {mark})", "",
                      f"> {str(x.get('question', '')).replace(chr(10), ' ')}", "", "```text",
                      str(x.get("reasoning", "")).replace("```", "'''"), "```", "",
                      f"Prediction: {x.get('prediction', '–')}", ""]
    return lines + ([] if shown else [f"Example chains: {NOT_MEASURED}.", ""])


def _load(run_dir: Path) -> dict:
    path = run_dir / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the pipeline writes it as it runs; give the run directory")
    summary = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a JSON object (the pipeline summary), got {type(summary).__name__}")
    return summary


def write_report(run_dir: str | Path) -> Path:
    """Write `run_dir/report.md` (and `run_dir/plots/*.png` when matplotlib is installed) from
    `run_dir/summary.json` alone; return the report's path."""
    run_dir = Path(run_dir)
    summary = _load(run_dir)
    plot_dir = run_dir / "plots" if plots.available() else None
    evals = _evals(summary)
    final_name = list(evals)[-1] if evals else None
    final = evals.get(final_name, {})
    claims = _claims(summary)
    lines = (_title(summary, plot_dir is not None) + ["## What the numbers mean", ""] + verdicts.METRICS + [""]
             + _claims_section(summary) + _results(evals, claims) + _budget_section(evals, plot_dir)
             + _family_section(final_name, final) + _rl_section(summary, plot_dir)
             + _grounding_section(summary, evals, plot_dir) + perception.ladder_section(summary)
             + perception.text_control_section(summary) + _iteration_section(summary) + _examples_section(evals))
    path = run_dir / "report.md"
    write_text_atomic(path, "\n".join(lines))
    return path


# An ablation: several runs' summaries side by side, one section per ablation ("format_reward/on" -> format_reward).

_SCALING = {"reproduces": "test-time scaling", "opposite": "inverted scaling", "not significant": "not significant"}


def _scaling(claim: Mapping | None) -> str:
    """Test-time or inverted scaling only where the paired interval of think − no-think excludes 0."""
    return _SCALING.get((claim or {}).get("verdict"), NOT_MEASURED)


def comparison_table(runs: Mapping[str, Mapping]) -> list[dict[str, Any]]:
    """One row per run (in the given order): accuracies are fractions, `delta` is think − no-think with
    its paired interval `delta_ci95` over `n` items (from the final stage's claim; `scaling` says
    test-time or inverted scaling only when that interval excludes 0), `budgets` is [(label, accuracy)]
    with "∞" last, `rl_length_first/last` are the reasoning tokens at the first and last iteration of
    the run's last RL stage and `rl_lengths` those of every RL stage (stage -> (first, last)), `wall_s`
    is the run's wall time in seconds (stages shared with another run at the time they took there) and
    `rl_wall_s` that of its RL stages; anything not in the summary is None."""
    rows = []
    for name, summary in runs.items():
        evals = _evals(summary)
        final_name = list(evals)[-1] if evals else None
        final, rl = evals.get(final_name, {}), _rl_stages(summary)
        accuracy = _mapping(final, "accuracy")
        rl_stage = list(rl)[-1] if rl else None
        lengths = _series(rl.get(rl_stage, []), "reasoning_tokens")
        paired = _think_claim(_claims(summary), final_name) if final_name else None
        rl_lengths = {stage: (series[0], series[-1]) for stage, points in rl.items()
                      if (series := _series(points, "reasoning_tokens"))}
        rows.append({"run": name, "final_stage": final_name, "think": _number(accuracy.get("think")),
                     "no_think": _number(accuracy.get("no_think")), "delta": _delta(accuracy),
                     "delta_ci95": (paired or {}).get("ci95"), "n": (paired or {}).get("n"),
                     "claim": paired, "scaling": _scaling(paired),
                     "budgets": _budgets(final.get("budgets")),
                     "reasoning_tokens": _number(final.get("reasoning_tokens")),
                     "grounding": _number(final.get("grounding")),
                     "self_cognition_error": _number(final.get("self_cognition_error")), "rl_stage": rl_stage,
                     "rl_length_first": lengths[0] if lengths else None,
                     "rl_length_last": lengths[-1] if lengths else None, "rl_lengths": rl_lengths,
                     "wall_s": _number(summary.get("wall_s")), "rl_wall_s": _stage_wall(summary, set(rl))})
    return rows


def _stage_wall(summary: Mapping, names: set[str]) -> float | None:
    """Total wall time in seconds of the named stages, None when none of them has one recorded."""
    times = [_number(s.get("wall_s")) for s in summary.get("stages") or []
             if isinstance(s, Mapping) and s.get("name") in names]
    times = [t for t in times if t is not None]
    return sum(times) if times else None


def _groups(runs: Mapping[str, Mapping]) -> dict[str, dict[str, Mapping]]:
    groups: dict[str, dict[str, Mapping]] = {}
    for key, summary in runs.items():
        group, sep, label = key.partition("/")
        groups.setdefault(group if sep else "runs", {})[label if sep else key] = summary
    return groups


def _comparison_section(group: str, runs: dict[str, Mapping], plot_dir: Path | None) -> list[str]:
    lines = [f"## {group}", "", "| run | think | no-think | think − no-think [95 % CI], n | scaling | "
             "accuracy by budget | "
             "reasoning tokens | grounding | self-cognition error | wall time | RL wall time | "
             "RL reasoning tokens (first → last) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = comparison_table(runs)
    for row in rows:
        budgets = " · ".join(f"{label}: {_pct(v)}" for label, v in row["budgets"]) or "–"
        rl = "; ".join(f"{_first_last(list(ends), '.1f')} ({stage})" for stage, ends in row["rl_lengths"].items())
        diff = _points(row["delta"]) if row["delta_ci95"] is None else \
            f"{_points(row['delta'])} {verdicts.interval(row['claim'])}, n = {row['n']}"
        lines.append(f"| {row['run']} | {_pct(row['think'])} | {_pct(row['no_think'])} | {diff} | "
                     f"{row['scaling']} | {budgets} | {_fmt(row['reasoning_tokens'], '.1f')} | "
                     f"{_fmt(row['grounding'], '.2f')} | {_pct(row['self_cognition_error'])} | "
                     f"{_duration(row['wall_s'])} | {_duration(row['rl_wall_s'])} | {rl or NOT_MEASURED} |")
    lines.append("")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", group)
    series = {name: _rl_stages(s) for name, s in runs.items()}
    if any(_series(p, "reasoning_tokens") for stages in series.values() for p in stages.values()):
        lines += _draw(plot_dir, f"{slug}_rl_length.png", plots.rl_length, series)
    deltas = {row["run"]: (row["delta"], _ci(row["delta_ci95"]), row["scaling"]) for row in rows
              if row["delta"] is not None}
    return lines + (_draw(plot_dir, f"{slug}_scaling.png", plots.scaling, deltas) if deltas else [])


def write_comparison(out_dir: str | Path, runs: Mapping[str, Mapping]) -> Path:
    """Write `out_dir/report.md` (and plots) comparing runs' summaries (name -> summary dict); names
    like "format_reward/on" are grouped into one section per prefix. Return the report's path."""
    if not runs:
        raise ValueError("write_comparison needs at least one run summary (name -> summary.json contents)")
    out_dir = Path(out_dir)
    plot_dir = out_dir / "plots" if plots.available() else None
    lines = ["# MGRD ablation report", "",
             f"- runs: {', '.join(runs)}",
             "- final-stage numbers; think − no-think is test-time scaling when its paired 95 % interval lies "
             "above 0, inverted scaling when it lies below 0, and not significant when it holds 0",
             "- wall time: every stage of the run, a stage shared with another run at the time it took there; "
             "RL wall time: the RL stages alone"]
    lines += [] if plot_dir else [f"- plots not drawn: {plots.INSTALL_HINT}"]
    lines.append("")
    for group, members in _groups(runs).items():
        lines += _comparison_section(group, members, plot_dir)
    path = out_dir / "report.md"
    write_text_atomic(path, "\n".join(lines))
    return path
