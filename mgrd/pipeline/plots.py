"""Figures of a pipeline run and of an ablation, drawn with matplotlib (the `report` extra) on Agg."""

from __future__ import annotations

import importlib.util
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


def budget(path: Path, labels: Sequence[str], curves: Mapping[str, Sequence[float | None]]) -> str:
    """Accuracy (fractions, drawn in %) against thinking budget, one line per stage.

    `labels` are the budgets in order ("∞" last); each curve has one value (or None) per label.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for stage, values in curves.items():
        points = [(i, v * 100) for i, v in enumerate(values) if v is not None]
        if points:
            ax.plot(*zip(*points), marker="o", label=stage)
    ax.set_xticks(range(len(labels)), labels)
    return _finish(fig, ax, path, xlabel="thinking budget (tokens)", ylabel="accuracy (%)",
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


def grounding(path: Path, values: Mapping[str, float]) -> str:
    """Grounding score per evaluated stage, in stage order."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(range(len(values)), list(values.values()), marker="o")
    ax.set_xticks(range(len(values)), list(values))
    return _finish(fig, ax, path, xlabel="stage", ylabel="grounding score",
                   title="grounding of the reasoning by stage")


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


def scaling(path: Path, deltas: Mapping[str, float]) -> str:
    """Think − no-think accuracy (fractions, drawn in points) per run; above zero is test-time scaling."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names, values = list(deltas), [d * 100 for d in deltas.values()]
    bars = ax.bar(range(len(names)), values, color=["tab:green" if v > 0 else "tab:red" for v in values])
    ax.bar_label(bars, ["test-time scaling" if v > 0 else "inverted scaling" if v < 0 else "no change"
                        for v in values], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.margins(y=0.2)
    ax.set_xticks(range(len(names)), names)
    return _finish(fig, ax, path, ylabel="think − no-think (points)",
                   title="test-time scaling (> 0) or inverted scaling (< 0)")
