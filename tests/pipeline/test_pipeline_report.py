"""The run and ablation reports, written from hand-made summaries: table values, computed claims, plots."""

import copy
import importlib.util
import json

import pytest

from mgrd.pipeline import plots
from mgrd.pipeline.report import comparison_table, write_comparison, write_report
from mgrd.pipeline.verdicts import claims

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


IDS = [f"w-{i}" for i in range(10)]
PROBES = ["p-0", "p-1", "p-2", "p-3"]


def _mean(xs):
    return sum(xs) / len(xs)


def _eval(think, no_think, *, grounding, denied, budgets=None, examples=()):
    """An eval entry from per-item vectors (10 items, 4 probes); aggregates are their means."""
    scores = {"0": no_think, "unlimited": think, **(budgets or {})}
    return {"accuracy": {"think": _mean(think), "no_think": _mean(no_think)},
            "think_budget": "unlimited",
            "budgets": {k: _mean(v) for k, v in scores.items()},
            "budgets_ci95": {k: [_mean(v) - 0.1, _mean(v) + 0.1] for k, v in scores.items()},
            "per_family": {"sound": {"think": 0.5, "no_think": 0.4, "items": 4},
                           "music": {"think": 0.35, "no_think": 0.375, "items": 6}},
            "reasoning_tokens": 54.2, "grounding": _mean(grounding), "grounding_ci95": [0.05, 0.95],
            "self_cognition_error": _mean(denied), "self_cognition_ci95": [0.0, _mean(denied) + 0.4],
            "items": 10, "probes": 4, "examples": list(examples),
            "per_item": {"ids": IDS, "scores": scores, "grounding": grounding},
            "per_probe": {"ids": PROBES, "denied": denied}}


EXAMPLE = {"id": "w-7", "family": "sound", "question": "How many beeps?", "answer": "B",
           "reasoning": "I hear five short beeps.", "prediction": "B. 5 beeps", "correct": True}
ZEROS = [0] * 10
# think − no-think per item at the final stage: 1 1 1 1 0 0 0 0 0 0 (worked out in _claim below)
FINAL_THINK, FINAL_PLAIN = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
G0 = [0.1 * i for i in range(10)]
G1 = [g + (0.1 if i % 2 == 0 else 0.3) for i, g in enumerate(G0)]   # differences 0.1, 0.3, ...: mean 0.2


def _summary():
    return {
        "recipe": "tiny", "run_dir": "runs/quickstart", "wall_s": 812.3, "finished": True,
        "stages": [{"name": "world", "wall_s": 60.1}, {"name": "cold_start", "wall_s": 90.0},
                   {"name": "cognition", "wall_s": 30.5}],
        "evals": {
            # differences 1, -1, 0, ...: mean 0, so the interval holds 0
            "cold_start": _eval([1, 0] + ZEROS[2:], [0, 1] + ZEROS[2:], grounding=G0, denied=[1, 1, 0, 0],
                                examples=[EXAMPLE]),
            # differences -1 on four items: the mirror of the final stage's
            "iter1": _eval(ZEROS, [1, 1, 1, 1] + ZEROS[4:], grounding=G0, denied=[1, 0, 0, 0]),
            "final": _eval(FINAL_THINK, FINAL_PLAIN, grounding=G1, denied=[0, 0, 0, 0],
                           examples=[dict(EXAMPLE, correct=False)],
                           budgets={"16": [1] * 4 + ZEROS[4:], "128": [1] * 5 + ZEROS[5:]}),
        },
        "rl": {"text_rl": [{"iteration": i, "reward": 0.1 * i, "accuracy": 0.1 * i, "reasoning_tokens": 50.0 + i}
                           for i in (1, 2, 3)],
               "iter1/rl": [{"iteration": i, "reward": 0.2 * i, "accuracy": 0.2, "reasoning_tokens": 60.0 - i}
                            for i in (1, 2)]},
        "distill": {"iter1": {"chains": 256, "kept": 80, "keep_rate": 0.3125,
                              "filters": [{"name": "correctness", "seen": 256, "kept": 120,
                                           "dropped": {"wrong answer": 136}}]}},
        "curation": {"iter1": {"questions": 64, "kept": 20, "k": 8, "histogram": [10, 5, 4, 6, 5, 5, 4, 10, 15],
                               "strategy": "range", "low": 3, "high": 6}},
        "cognition": {"responses": 64, "denials": 12, "pairs": 40},
    }


def _report(tmp_path, summary):
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    path = write_report(tmp_path)
    assert path == tmp_path / "report.md"
    return path.read_text(encoding="utf-8")


def _claim(text, start):
    return next(line for line in text.splitlines() if line.startswith(start))


def test_claims_carry_paired_intervals_and_verdicts():
    found = {(c["name"], c["stage"]): c for c in claims(_summary())}
    final = found[("think > no-think", "final")]
    # d = 1,1,1,1,0,...: mean 0.4, s = sqrt((4·0.36 + 6·0.16) / 9) = 0.516398, half = 2.262·s/√10 = 0.369383
    assert (final["a"], final["b"], final["n"]) == (pytest.approx(0.6), pytest.approx(0.2), 10)
    assert final["diff"] == pytest.approx(0.4) and final["ci95"] == pytest.approx([0.030617, 0.769383], abs=1e-6)
    assert final["direction"] == ">" and final["verdict"] == "reproduces"
    assert found[("think > no-think", "iter1")]["verdict"] == "opposite"
    cold = found[("think > no-think", "cold_start")]
    assert cold["diff"] == 0 and cold["verdict"] == "not significant" and "before the MGRD" in cold["note"]
    budget = found[("accuracy rises with thinking budget", "final")]
    assert budget["diff"] == pytest.approx(0.4) and budget["verdict"] == "reproduces"
    # grounding d = 0.1, 0.3, ...: mean 0.2, s = sqrt(10·0.01/9) = 0.105409, half = 2.262·s/√10 = 0.075400
    grounding = found[("grounding rises over MGRD", "cold_start → final")]
    assert grounding["ci95"] == pytest.approx([0.124600, 0.275400], abs=1e-6) and grounding["verdict"] == "reproduces"
    # self-cognition d = -1, -1, 0, 0: mean -0.5, s = sqrt(1/3), half = 3.182·s/2 = 0.918564
    error = found[("self-cognition error falls (filter rule)", "cold_start → final")]
    assert error["direction"] == "<" and error["n"] == 4
    assert error["ci95"] == pytest.approx([-1.418564, 0.418564], abs=1e-6) and error["verdict"] == "not significant"
    # the independent measure is its own claim: without held-out probe outcomes it is not measured
    assert found[("self-cognition error falls", "cold_start → final")]["verdict"] == "not measured"


def test_claims_pair_by_item_id_and_skip_missing_items():
    summary = _summary()
    final = summary["evals"]["final"]["per_item"]
    order = list(reversed(range(10)))
    final["ids"] = [IDS[i] for i in order]                      # another order: pairing follows the ids
    final["grounding"] = [G1[i] for i in order]
    final["grounding"][0] = None                                # w-9 failed at the final stage
    grounding = next(c for c in claims(summary) if c["name"].startswith("grounding"))
    assert grounding["n"] == 9 and grounding["diff"] == pytest.approx((0.1 * 5 + 0.3 * 4) / 9)


def test_report_shows_each_claim_with_interval_n_and_verdict(tmp_path):
    text = _report(tmp_path, _summary())
    assert "# MGRD run report: tiny" in text
    assert "| cold_start | 90.0 s (1.5 min) |" in text
    line = _claim(text, "- think > no-think (final;")
    assert "+40.0 pp [+3.1, +76.9], n = 10, **reproduces**" in line and "60.0 %" in line and "20.0 %" in line
    assert "**opposite**" in _claim(text, "- think > no-think (iter1;")
    assert "**not significant**" in _claim(text, "- think > no-think (cold_start;")
    assert "+0.20 [+0.12, +0.28], n = 10, **reproduces**" in _claim(text, "- grounding rises")
    assert "-50.0 pp [-141.9, +41.9], n = 4, **not significant**" in _claim(text, "- self-cognition error falls (filter")
    assert "**not measured**" in _claim(text, "- self-cognition error falls (cold")
    assert "| final | 60.0 % | 20.0 % | +40.0 pp [+3.1, +76.9] reproduces | 54.2 | 0.65 | 0.0 % | 10 |" in text
    assert "| stage | 0 | 16 | 128 | ∞ |" in text                   # budgets in order, unlimited at the right
    assert "| iter1 | 40.0 % [30.0, 50.0] | – | – | 0.0 % [-10.0, 10.0] |" in text
    assert "| final | 0.65 [0.05, 0.95] | – | 0.0 % [0.0, 40.0] | – + 4 |" in text
    for metric in ("**accuracy**", "**grounding**", "**self-cognition error (independent)**", "**kept chains**",
                   "**perception ladder**", "**verdict**"):
        assert f"- {metric}:" in text
    assert "| music | 35.0 % | 37.5 % | -2.5 pp | 6 |" in text
    assert "| text_rl | 3 | 0.100 → 0.300 |" in text
    assert "| correctness | 256 | 120 | wrong answer: 136 |" in text
    assert "| iter1 | range [3, 6] | 20 / 64 | 10 | 5 | 4 | 6 | 5 | 5 | 4 | 10 | 15 |" in text
    assert "How many beeps?" in text and "I hear five short beeps." in text
    assert "### cold_start" in text and "### final" in text
    assert "reproduces at this scale" not in text and "does not reproduce" not in text


def test_stored_claims_are_used_as_written(tmp_path):
    summary = _summary()
    summary["claims"] = [{"name": "think > no-think", "stage": "final", "direction": ">", "a_label": "think",
                          "b_label": "no-think", "a": 0.5, "b": 0.45, "diff": 0.05, "ci95": [-0.01, 0.11], "n": 320,
                          "verdict": "not significant", "note": ""}]
    text = _report(tmp_path, summary)
    assert "+5.0 pp [-1.0, +11.0], n = 320, **not significant**" in text
    assert "- grounding rises" not in text


def test_summary_without_per_item_scores_is_not_measured(tmp_path):
    summary = _summary()
    for e in summary["evals"].values():
        del e["per_item"], e["per_probe"]
    text = _report(tmp_path, summary)
    assert "| final | 60.0 % | 20.0 % | +40.0 pp | 54.2 |" in text     # the difference, but no verdict without pairs
    for start in ("- think > no-think (final;", "- grounding rises", "- self-cognition error falls"):
        assert "**not measured**" in _claim(text, start)


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib (the report extra) is not installed")
def test_plots_are_written(tmp_path):
    text = _report(tmp_path, _summary())
    for name in ("budget.png", "rl.png", "grounding.png"):
        path = tmp_path / "plots" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](plots/{name})" in text
    assert not [p for p in (tmp_path / "plots").iterdir() if p.suffix != ".png"]   # no temporary files left


def test_without_matplotlib_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "available", lambda: False)
    text = _report(tmp_path, _summary())
    assert "plots not drawn: matplotlib is not installed" in text and "](plots/" not in text
    assert not (tmp_path / "plots").exists()
    text = write_comparison(tmp_path / "ablation", _ablation()).read_text(encoding="utf-8")
    assert "plots not drawn: matplotlib is not installed" in text and "](plots/" not in text


def test_partial_summary_says_not_measured(tmp_path):
    summary = {"recipe": "tiny", "finished": False, "stages": [{"name": "world", "wall_s": 5.0}],
               "evals": {"cold_start": {"accuracy": {"think": 0.3}, "items": 10}}}
    text = _report(tmp_path, summary)
    assert "partial run (not finished)" in text
    assert "| cold_start | 30.0 % | – | – |" in text
    assert "RL curves: not measured." in text
    assert "Cognition stage: not measured." in text
    for start in ("- think > no-think", "- accuracy rises", "- grounding rises", "- self-cognition error falls"):
        assert "**not measured**" in _claim(text, start)


def test_empty_summary_and_missing_summary(tmp_path):
    assert "No stage was evaluated (not measured)." in _report(tmp_path, {})
    with pytest.raises(FileNotFoundError, match="summary.json"):
        write_report(tmp_path / "nowhere")


def _ablation():
    on, off, flat, legacy = _summary(), _summary(), _summary(), _summary()
    off["evals"]["final"] = _eval(ZEROS, [1, 1, 1, 1] + ZEROS[4:], grounding=G0, denied=[0, 0, 0, 0])
    off["rl"]["iter1/rl"] = [{"iteration": i, "reward": 0.3, "reasoning_tokens": 40.0 / i} for i in (1, 2, 4)]
    flat["evals"]["final"] = copy.deepcopy(flat["evals"]["cold_start"])
    for key in ("rl", "cognition"):
        del flat[key], legacy[key]
    del legacy["evals"]["final"]["per_item"]
    return {"format_reward/on": on, "format_reward/off": off, "curation/range": flat, "curation/old": legacy}


def test_comparison_table_rows():
    rows = comparison_table(_ablation())
    assert [r["run"] for r in rows] == ["format_reward/on", "format_reward/off", "curation/range", "curation/old"]
    on, off, flat, legacy = rows
    assert on["delta"] == pytest.approx(0.4) and on["delta_ci95"] == pytest.approx([0.030617, 0.769383], abs=1e-6)
    assert on["n"] == 10 and on["scaling"] == "test-time scaling"
    assert off["delta"] == pytest.approx(-0.4) and off["scaling"] == "inverted scaling"
    assert flat["delta"] == 0 and flat["scaling"] == "not significant"
    assert legacy["delta"] == pytest.approx(0.4) and legacy["scaling"] == "not measured"   # no pairs, no verdict
    assert on["budgets"] == [("0", 0.2), ("16", 0.4), ("128", 0.5), ("∞", 0.6)]
    assert (on["rl_stage"], on["rl_length_first"], on["rl_length_last"]) == ("iter1/rl", 59.0, 58.0)
    assert (off["rl_length_first"], off["rl_length_last"]) == (40.0, 10.0)
    assert flat["rl_stage"] is None and flat["rl_length_first"] is None


def test_write_comparison_sections_and_plots(tmp_path):
    text = write_comparison(tmp_path, _ablation()).read_text(encoding="utf-8")
    assert text.index("## format_reward") < text.index("## curation")
    assert "| on | 60.0 % | 20.0 % | +40.0 pp [+3.1, +76.9], n = 10 | test-time scaling |" in text
    assert "| off | 0.0 % | 40.0 % | -40.0 pp [-76.9, -3.1], n = 10 | inverted scaling |" in text
    # d = 1, -1, 0, ...: s = sqrt(2/9) = 0.471405, half = 2.262·s/√10 = 0.337199
    assert "| range | 10.0 % | 10.0 % | +0.0 pp [-33.7, +33.7], n = 10 | not significant |" in text
    assert "| old | 60.0 % | 20.0 % | +40.0 pp | not measured |" in text
    assert "0: 20.0 % · 16: 40.0 % · 128: 50.0 % · ∞: 60.0 %" in text
    assert "40.0 → 10.0 (iter1/rl)" in text
    assert text.split("## curation")[1].splitlines()[4].endswith("| not measured |")   # the flat run has no RL
    if HAS_MATPLOTLIB:
        for name in ("format_reward_rl_length.png", "format_reward_scaling.png", "curation_scaling.png"):
            assert (tmp_path / "plots" / name).is_file() and f"](plots/{name})" in text
        assert not (tmp_path / "plots" / "curation_rl_length.png").exists()


def _estimators():
    """PPO with a critic against GRPO: the same evaluations, different RL lengths and wall times."""
    ppo, grpo = _summary(), _summary()
    ppo["wall_s"], grpo["wall_s"] = 900.0, 780.0
    ppo["stages"] += [{"name": "text_rl", "wall_s": 100.0}, {"name": "iter1/rl", "wall_s": 200.0}]
    grpo["stages"] += [{"name": "text_rl", "wall_s": 60.0}, {"name": "iter1/rl", "wall_s": 120.0}]
    grpo["rl"] = {"text_rl": [{"iteration": i, "reasoning_tokens": 40.0 + 5 * i} for i in (1, 2)],
                  "iter1/rl": [{"iteration": i, "reasoning_tokens": 70.0 - 10 * i} for i in (1, 2, 3)]}
    return {"rl_estimator/ppo (critic)": ppo, "rl_estimator/grpo": grpo}


def test_comparison_gives_wall_time_and_every_rl_stage_length(tmp_path):
    ppo, grpo = comparison_table(_estimators())
    # wall time: the summary's; RL wall time: text_rl + iter1/rl = 100 + 200 and 60 + 120 s
    assert (ppo["wall_s"], ppo["rl_wall_s"], grpo["wall_s"], grpo["rl_wall_s"]) == (900.0, 300.0, 780.0, 180.0)
    # reasoning tokens: ppo text_rl 51 -> 53, iter1/rl 59 -> 58; grpo text_rl 45 -> 50, iter1/rl 60 -> 40
    assert ppo["rl_lengths"] == {"text_rl": (51.0, 53.0), "iter1/rl": (59.0, 58.0)}
    assert grpo["rl_lengths"] == {"text_rl": (45.0, 50.0), "iter1/rl": (60.0, 40.0)}
    text = write_comparison(tmp_path, _estimators()).read_text(encoding="utf-8")
    assert "## rl_estimator" in text and "| wall time | RL wall time |" in text
    assert "| ppo (critic) | 60.0 % | 20.0 % | +40.0 pp [+3.1, +76.9], n = 10 | test-time scaling |" in text
    assert "| 900.0 s (15.0 min) | 300.0 s (5.0 min) | 51.0 → 53.0 (text_rl); 59.0 → 58.0 (iter1/rl) |" in text
    assert "| 780.0 s (13.0 min) | 180.0 s (3.0 min) | 45.0 → 50.0 (text_rl); 60.0 → 40.0 (iter1/rl) |" in text
    # a run whose stages hold no RL stage: no RL wall time
    assert comparison_table({"x": {"wall_s": 5.0, "stages": [{"name": "world", "wall_s": 5.0}]}})[0]["rl_wall_s"] \
        is None


def test_write_comparison_needs_runs(tmp_path):
    with pytest.raises(ValueError, match="at least one run"):
        write_comparison(tmp_path, {})
