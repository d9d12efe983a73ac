"""Confidence intervals against hand-computed numbers; budget and seed sweeps; grounding lexicon; layering."""

import ast
from pathlib import Path

import pytest

from mgrd.evaluation.grounding import grounding_score
from mgrd.evaluation.statistics import mean_ci, summarise, t_quantile_975, wilson_interval
from mgrd.evaluation.sweep import Setting, parse_budgets, settings


def test_mean_ci_by_hand():
    # mean 0.7, s = 0.1, half-width = 4.303 * 0.1 / sqrt(3) = 0.248434
    mean, low, high = mean_ci([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7) and low == pytest.approx(0.451566, abs=1e-6) and high == pytest.approx(0.948434, abs=1e-6)
    assert mean_ci([0.5]) == (0.5, 0.5, 0.5) and mean_ci([]) is None
    assert t_quantile_975(1) == 12.706 and t_quantile_975(100) == 1.96


def test_wilson_by_hand():
    # 8/10: centre (0.8 + 0.19208) / 1.38416 = 0.716738, half 1.96 * sqrt(0.025604) / 1.38416 = 0.226581
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490157, abs=1e-6) and high == pytest.approx(0.943319, abs=1e-6)
    assert wilson_interval(0, 5)[0] == 0.0
    with pytest.raises(ValueError):
        wilson_interval(1, 0)


def test_summarise_picks_the_interval():
    assert summarise([0.6, 0.7, 0.8], [1.0] * 7)["method"] == "t over seeds"
    single = summarise([0.8], [1.0] * 8 + [0.0] * 2)
    assert single["method"] == "wilson" and single["ci95"][0] == pytest.approx(0.490157, abs=1e-6)
    graded = summarise([6.0], [5.0, 7.0])                     # mean 6, s = sqrt(2), 12.706 * sqrt(2)/sqrt(2)
    assert graded["method"] == "t over items" and graded["ci95"] == pytest.approx([6 - 12.706, 6 + 12.706])
    assert summarise([], [])["mean"] is None


def test_budgets_and_seeds():
    assert parse_budgets("0,64, 256,unlimited") == (0, 64, 256, None)
    assert parse_budgets("no-think,think") == (0, None)
    for bad in ("-1", "lots", ""):
        with pytest.raises(ValueError, match="thinking budget"):
            parse_budgets(bad)
    assert settings((0, None), 2) == [Setting(0, 0), Setting(0, 1), Setting(None, 0), Setting(None, 1)]
    assert Setting(None, 1).label == "budget=unlimited/seed=1"
    with pytest.raises(ValueError):
        settings((None,), 0)


def test_grounding_lexicon():
    g = grounding_score("The pitch rises to 440 Hz. The transcript says dog.\nSo the answer is B.")
    assert g == {"sentences": 3, "acoustic": 1, "surrogate": 1, "score": pytest.approx(1 / 3)}
    assert grounding_score("")["score"] is None


def test_evaluation_imports_no_higher_layer():
    root = Path(__file__).resolve().parents[2] / "mgrd"
    forbidden = ("mgrd.training", "mgrd.serving", "mgrd.cli")
    for folder, banned in (("evaluation", forbidden), ("tasks", forbidden + ("mgrd.evaluation",)),
                           ("scoring", forbidden + ("mgrd.evaluation", "mgrd.tasks", "mgrd.model", "torch"))):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                assert not [n for n in names if n.startswith(banned)], f"{path} imports {names}"
