"""Confidence intervals against hand-computed numbers; budget and seed sweeps; grounding lexicon; layering."""

import ast
from pathlib import Path

import pytest

from mgrd.evaluation.grounding import grounding_score
from mgrd.evaluation.statistics import (
    interval_verdict,
    mean_ci,
    paired_difference,
    paired_sample_size,
    summarise,
    t_quantile_975,
    wilson_interval,
)
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


def test_paired_difference_by_hand():
    # a − b per item: 1, 0, 0, 1, -1, 1 -> mean 1/3; squared deviations 4/9 ·3 + 1/9 ·2 + 16/9 = 30/9,
    # s = sqrt(30/9 / 5) = 0.816497, half = t(5) 2.571 · s / sqrt(6) = 0.857000
    r = paired_difference([1, 1, 0, 1, 0, 1], [0, 1, 0, 0, 1, 0])
    assert r["n"] == 6 and r["diff"] == pytest.approx(1 / 3)
    assert r["ci95"] == pytest.approx([1 / 3 - 0.857000, 1 / 3 + 0.857000], abs=1e-6)
    # graded scores: d = 0.1, 0.3 -> mean 0.2, s = 0.141421, half = 12.706 · 0.141421 / sqrt(2) = 1.2706
    g = paired_difference([0.5, 0.9], [0.4, 0.6])
    assert g["diff"] == pytest.approx(0.2) and g["ci95"] == pytest.approx([0.2 - 1.2706, 0.2 + 1.2706], abs=1e-6)


def test_paired_difference_is_narrower_than_unpaired_when_items_agree():
    # Both right on the same 5 of 10 items, a on two more: d = 0 ×5, 1, 1, 0 ×3 -> mean 0.2,
    # s = sqrt((2·0.64 + 8·0.04) / 9) = 0.421637, half = 2.262 · s / sqrt(10) = 0.301600.
    # Unpaired, the half-width would be 2.262 · sqrt((0.233333 + 0.277778) / 10) = 0.511390.
    paired = paired_difference([1] * 7 + [0] * 3, [1] * 5 + [0] * 5)
    assert paired["ci95"] == pytest.approx([0.2 - 0.301600, 0.2 + 0.301600], abs=1e-6)
    assert (paired["ci95"][1] - paired["ci95"][0]) / 2 < 0.511390


def test_paired_difference_edges():
    assert paired_difference([], []) == {"diff": None, "ci95": None, "n": 0}
    assert paired_difference([1], [0]) == {"diff": 1.0, "ci95": None, "n": 1}          # no spread from one item
    assert paired_difference([1, 0, 1], [1, 0, 1]) == {"diff": 0.0, "ci95": [0.0, 0.0], "n": 3}
    with pytest.raises(ValueError, match="one b per a"):
        paired_difference([1, 0], [1])


def test_interval_verdict_all_cases_and_the_edge():
    assert interval_verdict([0.02, 0.3], ">") == "reproduces"
    assert interval_verdict([-0.3, -0.02], "<") == "reproduces"
    assert interval_verdict([-0.3, -0.02], ">") == "opposite"
    assert interval_verdict([0.02, 0.3], "<") == "opposite"
    assert interval_verdict([-0.1, 0.3], ">") == "not significant"
    assert interval_verdict([0.0, 0.3], ">") == "not significant"          # touching 0 holds 0
    assert interval_verdict([-0.3, 0.0], "<") == "not significant"
    assert interval_verdict([0.0, 0.0], ">") == "not significant"
    assert interval_verdict(None, ">") == "not measured"
    with pytest.raises(ValueError, match="direction"):
        interval_verdict([0.1, 0.2], "up")


def test_paired_sample_size_by_hand():
    # (z 1.959964 + z 0.841621)^2 = 7.848879; 7.848879 · (0.4 − 0.01) / 0.01 = 306.1 -> 307
    assert paired_sample_size(0.10, 0.40) == 307
    # 7.848879 · (0.3 − 0.01) / 0.01 = 227.6 -> 228; a larger difference needs far fewer: 7.848879·0.36/0.04 = 70.6
    assert paired_sample_size(0.10, 0.30) == 228 and paired_sample_size(-0.2, 0.40) == 71
    for bad in ((0.0, 0.4), (0.5, 0.4), (0.1, 1.2)):
        with pytest.raises(ValueError, match="discordance"):
            paired_sample_size(*bad)


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
