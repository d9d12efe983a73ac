"""Figures of a pipeline run and of an ablation, drawn with matplotlib (the `report` extra) on Agg."""

from __future__ import annotations

import importlib.util
from itertools import pairwise
from collections.abc import Mapping, Sequence
from pathlib import Path

from mgrd.io import atomic_path

INSTALL_HINT = "matplotlib is not installed (pip install 'mgrd[report]')"


def available() -> bool:
    """Whether matplotlib can be imported; reports are written without plots when it cannot."""
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    """Write the figure beside its final name, then rename it, so a reader never sees half a PNG."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    _pyplot().close(fig)
    return path.name


def _finish(fig, ax, path: Path, *, ylabel: str, title: str, xlabel: str | None = None,
            legend: bool = False) -> str:
    """Label one-panel figure `ax`, add the legend if asked and anything was drawn, and save it."""
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend and ax.has_data():
        ax.legend()
    fig.tight_layout()
    return _save(fig, path)


Point = tuple[float | None, tuple[float, float] | None]   # (value, 95 % interval or None)


def _errorbar(ax, xs: Sequence[float], points: Sequence[Point], *, scale: float = 1.0, **style) -> None:
    """Measured points only (a None value is not drawn), each with its 95 % interval as an error bar."""
    shown = [(x, v, ci) for x, (v, ci) in zip(xs, points) if v is not None]
    if not shown:
        return
    # A line joins the points only when no budget between them went unmeasured.
    xs = [x for x, _, _ in shown]
    style.setdefault("linestyle", "-" if all(b - a <= 1 + 1e-9 for a, b in pairwise(xs)) else "none")
    low = [max(0.0, v - ci[0]) * scale if ci else 0.0 for _, v, ci in shown]
    high = [max(0.0, ci[1] - v) * scale if ci else 0.0 for _, v, ci in shown]
    ax.errorbar([x for x, _, _ in shown], [v * scale for _, v, _ in shown], yerr=[low, high], capsize=3, **style)


def budget(path: Path, labels: Sequence[str], curves: Mapping[str, Sequence[Point]]) -> str:
    """Accuracy (fractions, drawn in %) against thinking budget, one line per stage, 95 % error bars.

    `labels` are the budgets in order ("∞" last); each curve has one (value, interval) per label.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for stage, points in curves.items():
        _errorbar(ax, range(len(labels)), points, scale=100, marker="o", label=stage)
    ax.set_xticks(range(len(labels)), labels)
    return _finish(fig, ax, path, xlabel="thinking budget (tokens)", ylabel="accuracy (%, 95 % CI)",
                   title="accuracy vs thinking budget", legend=True)


def _cumulative(stages: Mapping[str, Sequence[dict]], key: str):
    """(segments, boundaries): per stage, the (xs, ys) of `key` on one iteration axis running through
    the stages in order, and the x of each boundary between stages."""
    segments, boundaries, offset = [], [], 0
    for points in stages.values():
        xs = [offset + i for i, p in enumerate(points, 1) if isinstance(p.get(key), (int, float))]
        segments.append((xs, [p[key] for p in points if isinstance(p.get(key), (int, float))]))
        offset += len(points)
        boundaries.append(offset + 0.5)
    return segments, boundaries[:-1]


def rl(path: Path, stages: Mapping[str, Sequence[dict]]) -> str:
    """Reward and reasoning length (tokens) over RL iterations, stage after stage, with the
    stage boundaries drawn as vertical lines."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key, label in ((axes[0], "reward", "mean reward"), (axes[1], "reasoning_tokens", "reasoning tokens")):
        segments, boundaries = _cumulative(stages, key)
        for xs, ys in segments:
            ax.plot(xs, ys, marker=".", color="tab:blue")
        for x in boundaries:
            ax.axvline(x, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("RL iteration (cumulative; dashed = stage boundary)")
        ax.set_ylabel(label)
        ax.set_title(f"{label} over RL ({', '.join(stages)})", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def grounding(path: Path, series: Mapping[str, Mapping[str, Point]]) -> str:
    """Grounding score and self-cognition error (fractions) per evaluated stage, 95 % error bars.

    `series` maps a measure ("grounding", "self-cognition error") to {stage: (value, interval)}.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    stages = list(dict.fromkeys(s for points in series.values() for s in points))
    for i, (measure, points) in enumerate(series.items()):
        xs = [stages.index(s) + 0.06 * i for s in points]        # side by side, not on top of each other
        _errorbar(ax, xs, list(points.values()), marker="os"[i % 2], label=measure)
    ax.set_xticks(range(len(stages)), stages)
    return _finish(fig, ax, path, xlabel="stage", ylabel="share (95 % CI)",
                   title="grounding and self-cognition error by stage", legend=True)


def rl_length(path: Path, runs: Mapping[str, Mapping[str, Sequence[dict]]]) -> str:
    """Reasoning tokens over RL iterations, one line per run (the format-reward ablation)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for run, stages in runs.items():
        segments, _ = _cumulative(stages, "reasoning_tokens")
        xs = [x for seg_xs, _ in segments for x in seg_xs]
        if xs:
            ax.plot(xs, [y for _, seg_ys in segments for y in seg_ys], marker=".", label=run)
    return _finish(fig, ax, path, xlabel="RL iteration (cumulative over RL stages)", ylabel="reasoning tokens",
                   title="reasoning length during RL", legend=True)


def scaling(path: Path, deltas: Mapping[str, tuple[float, tuple[float, float] | None, str]]) -> str:
    """Think − no-think accuracy (fractions, drawn in points) per run with its paired 95 % interval, each bar
    labelled with its verdict ("test-time scaling" only when the interval lies above 0)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = list(deltas)
    values = [d * 100 for d, _, _ in deltas.values()]
    low = [max(0.0, d - ci[0]) * 100 if ci else 0.0 for d, ci, _ in deltas.values()]
    high = [max(0.0, ci[1] - d) * 100 if ci else 0.0 for d, ci, _ in deltas.values()]
    colors = {"test-time scaling": "tab:green", "inverted scaling": "tab:red"}
    bars = ax.bar(range(len(names)), values, yerr=[low, high], capsize=3,
                  color=[colors.get(v, "tab:grey") for _, _, v in deltas.values()])
    ax.bar_label(bars, [v for _, _, v in deltas.values()], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.margins(y=0.2)
    ax.set_xticks(range(len(names)), names)
    return _finish(fig, ax, path, ylabel="think − no-think (points, 95 % CI)",
                   title="test-time scaling: think − no-think by run")
