"""Reports from a run directory alone: markdown tables (official and robust), accuracy-vs-budget and
reasoning-length plots, grounding scores; and re-scoring of the stored outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from mgrd.evaluation.scoreboard import score_run
from mgrd.evaluation.sweep import UNLIMITED
from mgrd.io import read_jsonl, write_text_atomic
from mgrd.remote import Judge, RecordStore
from mgrd.tasks.registry import TASKS, grader


def _load(out: Path, name: str):
    path = out / name
    if not path.is_file():
        raise FileNotFoundError(f"{out} is not an evaluation run directory: {name} is missing "
                                "(expected manifest.json, scores.json and scored.jsonl from `mgrd eval`)")
    return list(read_jsonl(path)) if name.endswith(".jsonl") else json.loads(path.read_text(encoding="utf-8"))


def rescore(out: str | Path, *, judge: Judge | None = None) -> dict:
    """Score the stored outputs again with the current graders (benchmark tasks; other tasks keep
    their stored rows). Without a judge, judged tasks use the judge replies already cached."""
    out = Path(out)
    manifest = _load(out, "manifest.json")
    infos = manifest["tasks"]
    graders = {n: grader(n) for n in infos if n in TASKS and TASKS[n].grader}
    wanted = {h for info in infos.values() for h in info["config_hashes"]}
    records = [r for r in RecordStore(out / "cache") if r.get("config_hash") in wanted]
    old = [r for r in _load(out, "scored.jsonl") if r["task"] not in graders]
    if judge is None and manifest.get("judge"):
        judge = Judge(None, manifest["judge"]["model"], RecordStore(out / "judge"))
    templates = manifest["config"].get("judge_templates") or {}
    return score_run(out, records, graders, infos, judge, templates, extra_rows=old)


def _pct(value, scale: float) -> str:
    return "–" if value is None else f"{value * scale:.1f}"


def _rule_cell(block: dict, rule: str, scale: float) -> str:
    """`41.0 [31.2, 51.4] (n=50; 3 unscored: judge not configured; 2 failed)`: the score, its interval,
    how many records it averages, and beside it what it does not count."""
    stats = block[rule]
    mean, ci = stats["mean"], stats["ci95"]
    score = "–" if mean is None else (f"{mean * scale:.1f} [{ci[0] * scale:.1f}, {ci[1] * scale:.1f}]" if ci
                                      else f"{mean * scale:.1f}")
    notes = [f"n={stats['n']}"]
    reasons = block.get("unscored_reasons", {}).get(rule, {})
    if reasons:
        notes.append(f"{sum(reasons.values())} unscored: "
                     + ", ".join(f"{why}" if len(reasons) == 1 else f"{n} {why}" for why, n in reasons.items()))
    if block.get("failed"):
        notes.append(f"{block['failed']} failed")
    return f"{score} ({'; '.join(notes)})"


def failure_line(scores: Mapping) -> str | None:
    """One line on the requests that failed after retries (None when none did)."""
    requests = scores.get("requests") or {}
    failed, total = requests.get("failed", 0), requests.get("total", 0)
    if not failed:
        return None
    first = requests.get("first_error") or "no error message"
    if failed == total:
        return f"all {total} requests failed after retries; first error: {first}"
    return f"{failed} of {total} requests failed after retries; first error: {first}"


def _task_section(name: str, task: dict) -> list[str]:
    scale = task.get("scale", 100.0)
    unit = "score ×10" if scale == 10.0 else "accuracy %"
    lines = [f"## {name} (version {task['version']}; {unit}; 95 % CI)", "",
             "| budget | official | robust | items | failed | reasoning tokens | "
             "reasoning words | grounding |", "|---|---|---|---|---|---|---|---|"]
    for label, b in task["budgets"].items():
        tokens = "–" if b["reasoning_tokens_mean"] is None else f"{b['reasoning_tokens_mean']:.0f}"
        words = "–" if b["reasoning_words_mean"] is None else f"{b['reasoning_words_mean']:.0f}"
        ground = "–" if b["grounding_mean"] is None else f"{b['grounding_mean']:.2f}"
        lines.append(f"| {label} | {_rule_cell(b, 'official', scale)} | {_rule_cell(b, 'robust', scale)} | "
                     f"{b['items']} | {b['failed']} | {tokens} | {words} | {ground} |")
    if task.get("judged"):
        lines += ["", "Official scores come from the judge; answers it could not score are 'unscored' (and "
                  "counted beside the score, never as wrong)."]
    for label, b in task["budgets"].items():
        if b["failed"]:
            lines += ["", f"Failed at budget {label} (excluded from the denominators, retried on the next run; "
                      f"first error: {b.get('first_error') or 'none recorded'}): " + ", ".join(b["failed_items"])]
        for key, groups in b["categories"].items():
            if len(groups) < 2 and key != "category":
                continue
            lines += ["", f"**{key}** (budget {label})", "", "| value | official | robust | records |", "|---|---|---|---|"]
            lines += [f"| {v or '(none)'} | {_pct(g['official'], scale)} | {_pct(g['robust'], scale)} | {g['n']} |"
                      for v, g in groups.items()]
        if b["differences"]:
            lines += ["", f"Why official and robust differ (budget {label}):", "", "| reason | records |", "|---|---|"]
            lines += [f"| {reason} | {n} |" for reason, n in sorted(b["differences"].items(), key=lambda kv: -kv[1])]
    return lines + [""]


def _plots(out: Path, scores: dict, rows: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    (out / "plots").mkdir(exist_ok=True)
    for name, task in scores["tasks"].items():
        labels = list(task["budgets"])
        scale = task.get("scale", 100.0)
        fig, ax = plt.subplots(figsize=(5, 3.2))
        drawn = False
        for rule, marker in (("official", "o"), ("robust", "s")):
            xs, ys, errs = [], [], [[], []]
            for i, label in enumerate(labels):
                block = task["budgets"][label][rule]
                if block["mean"] is None:
                    continue
                xs.append(i)
                ys.append(block["mean"] * scale)
                low, high = block["ci95"] or (block["mean"], block["mean"])
                errs[0].append((block["mean"] - low) * scale)
                errs[1].append((high - block["mean"]) * scale)
            if xs:
                ax.errorbar(xs, ys, yerr=errs, marker=marker, capsize=3, label=rule)
                drawn = True
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("thinking budget (tokens)")
        ax.set_ylabel("score ×10" if scale == 10.0 else "accuracy (%)")
        ax.set_title(f"{name}: score vs thinking budget")
        if drawn:
            ax.legend()
        fig.tight_layout()
        path = out / "plots" / f"{name}_budget.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path.name)
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for label in labels:
            budget = None if label == UNLIMITED else int(label)
            lengths = [r["reasoning_words"] for r in rows if r["task"] == name and r["status"] == "ok"
                       and r["budget"] == budget]
            if lengths:
                ax.hist(lengths, bins=20, alpha=0.5, label=f"budget {label}")
        ax.set_xlabel("reasoning length (words)")
        ax.set_ylabel("records")
        ax.set_title(f"{name}: reasoning length")
        if ax.has_data():
            ax.legend()
        fig.tight_layout()
        path = out / "plots" / f"{name}_reasoning_length.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path.name)
    return made


def write_report(out: str | Path, *, plots: bool = True) -> Path:
    """Write `report.md` (and `plots/*.png`) from the run directory's files alone."""
    out = Path(out)
    manifest, scores, rows = _load(out, "manifest.json"), _load(out, "scores.json"), _load(out, "scored.jsonl")
    model = manifest["model"]
    who = model.get("served_model") or model.get("name")
    lines = ["# Evaluation report", "",
             f"- model: `{who}` ({model.get('kind')}; {model.get('sha256') or model.get('base_url')})",
             f"- code: mgrd {manifest['code']['mgrd']} commit {manifest['code'].get('commit')} "
             f"(dirty: {manifest['code'].get('dirty')}); scoring version {scores.get('scoring_version')}",
             f"- created: {manifest['created']}; judge: {manifest.get('judge') or 'none'}", "",
             "Official = the benchmark's own rule on the answer as written (reasoning removed); robust = the "
             "answer mapped to a choice or number first, then compared exactly. An answer that names no "
             "choice is wrong under both. Failed requests are excluded from every denominator and listed.", "", "## Average (Table-1 style: unweighted mean over tasks, "
             "accuracy in %, 1–10 judge scores ×10)", "", "| budget | official | robust | tasks |", "|---|---|---|---|"]
    for label, entry in scores["average"].items():
        fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
        lines.append(f"| {label} | {fmt(entry['official']['mean'])} | {fmt(entry['robust']['mean'])} | "
                     f"{', '.join(entry['robust']['tasks']) or ', '.join(entry['official']['tasks'])} |")
    lines.append("")
    failures = failure_line(scores)
    if failures:
        lines += [f"**{failures[0].upper() + failures[1:]}.**", ""]
    for name, task in scores["tasks"].items():
        lines += _task_section(name, task)
    if plots:
        made = _plots(out, scores, rows)
        lines += ["## Plots", ""] + [f"![{m}](plots/{m})" for m in made] + [""]
    path = out / "report.md"
    write_text_atomic(path, "\n".join(lines))
    return path


def task_summary(scores: Mapping) -> list[tuple[str, str, str, str]]:
    """(task, budget, official, robust) strings for a console table."""
    out = []
    for name, task in scores["tasks"].items():
        scale = task.get("scale", 100.0)
        for label, b in task["budgets"].items():
            out.append((name, label, _rule_cell(b, "official", scale), _rule_cell(b, "robust", scale)))
    return out
