"""The run and ablation reports, written from hand-made summaries: table values, computed claims, plots."""

import copy
import importlib.util
import json

import pytest

from mgrd.pipeline import plots
from mgrd.pipeline.report import comparison_table, write_comparison, write_report

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _eval(think, no_think, *, grounding, error, budgets=None, examples=()):
    return {"accuracy": {"think": think, "no_think": no_think},
            "budgets": budgets or {"0": no_think, "unlimited": think},
            "per_family": {"sound": {"think": 0.5, "no_think": 0.4, "items": 20},
                           "music": {"think": 0.35, "no_think": 0.375, "items": 40}},
            "reasoning_tokens": 54.2, "grounding": grounding, "self_cognition_error": error,
            "items": 60, "probes": 16, "examples": list(examples)}


EXAMPLE = {"id": "w-7", "family": "sound", "question": "How many beeps?", "answer": "B",
           "reasoning": "I hear five short beeps.", "prediction": "B. 5 beeps", "correct": True}


def _summary():
    return {
        "recipe": "tiny", "run_dir": "runs/quickstart", "wall_s": 812.3, "finished": True,
        "stages": [{"name": "world", "wall_s": 60.1}, {"name": "cold_start", "wall_s": 90.0},
                   {"name": "cognition", "wall_s": 30.5}],
        "evals": {
            "cold_start": _eval(0.41, 0.38, grounding=0.63, error=0.25, examples=[EXAMPLE]),
            "iter1": _eval(0.45, 0.40, grounding=0.70, error=0.25),
            "final": _eval(0.50, 0.42, grounding=0.74, error=0.0625, examples=[dict(EXAMPLE, correct=False)],
                           budgets={"0": 0.42, "16": 0.44, "32": 0.43, "128": 0.49, "unlimited": 0.50}),
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


def test_results_rows_and_claims_when_thinking_helps(tmp_path):
    text = _report(tmp_path, _summary())
    assert "# MGRD run report: tiny" in text
    assert "| cold_start | 90.0 s (1.5 min) |" in text
    assert "| cold_start | 41.0 % | 38.0 % | +3.0 pp | 54.2 | 0.63 | 25.0 % | 60 |" in text
    assert "| final | 50.0 % | 42.0 % | +8.0 pp |" in text
    assert "| stage | 0 | 16 | 32 | 128 | ∞ |" in text          # budgets in order, unlimited at the right
    assert "| iter1 | 40.0 % | – | – | – | 45.0 % |" in text
    assert "| music | 35.0 % | 37.5 % | -2.5 pp | 40 |" in text
    assert "| text_rl | 3 | 0.100 → 0.300 |" in text
    assert "| correctness | 256 | 120 | wrong answer: 136 |" in text
    assert "| iter1 | range [3, 6] | 20 / 64 | 10 | 5 | 4 | 6 | 5 | 5 | 4 | 10 | 15 |" in text
    assert "How many beeps?" in text and "I hear five short beeps." in text
    assert "### cold_start" in text and "### final" in text
    assert "**reproduces**" in _claim(text, "- Thinking helps:") and "+8.0 pp" in text
    budget = _claim(text, "- Accuracy rises with thinking budget:")
    assert "**reproduces**" in budget and "budget ∞: 50.0 %" in budget and "not monotone" in budget
    assert "**reproduces**" in _claim(text, "- Grounding rises") and "0.63" in _claim(text, "- Grounding rises")
    cognition = _claim(text, "- Self-cognition error falls")
    assert "**reproduces**" in cognition and "iter1: 25.0 %, final: 6.2 %" in cognition


def test_claims_flip_when_thinking_does_not_help(tmp_path):
    summary = _summary()
    final = summary["evals"]["final"]
    final["accuracy"] = {"think": 0.40, "no_think": 0.42}
    final["budgets"] = {"0": 0.42, "64": 0.41, "unlimited": 0.40}
    final["grounding"], final["self_cognition_error"] = 0.5, 0.5
    text = _report(tmp_path, summary)
    assert "| final | 40.0 % | 42.0 % | -2.0 pp |" in text
    for start in ("- Thinking helps:", "- Accuracy rises with thinking budget:", "- Grounding rises",
                  "- Self-cognition error falls"):
        assert "**does not reproduce at this scale**" in _claim(text, start)
    assert "the curve is monotone (non-increasing)" in _claim(text, "- Accuracy rises")


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
    for start in ("- Thinking helps:", "- Accuracy rises", "- Grounding rises", "- Self-cognition error falls"):
        assert _claim(text, start).endswith("not measured.")


def test_empty_summary_and_missing_summary(tmp_path):
    assert "No stage was evaluated (not measured)." in _report(tmp_path, {})
    with pytest.raises(FileNotFoundError, match="summary.json"):
        write_report(tmp_path / "nowhere")


def _ablation():
    on, off = _summary(), _summary()
    off["evals"]["final"]["accuracy"] = {"think": 0.38, "no_think": 0.42}
    off["rl"]["iter1/rl"] = [{"iteration": i, "reward": 0.3, "reasoning_tokens": 40.0 / i} for i in (1, 2, 4)]
    partial = copy.deepcopy(on)
    for key in ("rl", "cognition"):
        del partial[key]
    return {"format_reward/on": on, "format_reward/off": off, "curation/range": partial}


def test_comparison_table_rows():
    rows = comparison_table(_ablation())
    assert [r["run"] for r in rows] == ["format_reward/on", "format_reward/off", "curation/range"]
    on, off, partial = rows
    assert on["delta"] == pytest.approx(0.08) and on["scaling"] == "test-time scaling"
    assert off["delta"] == pytest.approx(-0.04) and off["scaling"] == "inverted scaling"
    assert on["budgets"][-1] == ("∞", 0.50)
    assert (on["rl_stage"], on["rl_length_first"], on["rl_length_last"]) == ("iter1/rl", 59.0, 58.0)
    assert (off["rl_length_first"], off["rl_length_last"]) == (40.0, 10.0)
    assert partial["rl_stage"] is None and partial["rl_length_first"] is None


def test_write_comparison_sections_and_plots(tmp_path):
    text = write_comparison(tmp_path, _ablation()).read_text(encoding="utf-8")
    assert text.index("## format_reward") < text.index("## curation")
    assert "| on | 50.0 % | 42.0 % | +8.0 pp | test-time scaling |" in text
    assert "| off | 38.0 % | 42.0 % | -4.0 pp | inverted scaling |" in text
    assert "0: 42.0 % · 16: 44.0 % · 32: 43.0 % · 128: 49.0 % · ∞: 50.0 %" in text
    assert "40.0 → 10.0 (iter1/rl)" in text
    assert text.split("## curation")[1].splitlines()[4].endswith("| not measured |")   # the partial run has no RL
    if HAS_MATPLOTLIB:
        for name in ("format_reward_rl_length.png", "format_reward_scaling.png", "curation_scaling.png"):
            assert (tmp_path / "plots" / name).is_file() and f"](plots/{name})" in text
        assert not (tmp_path / "plots" / "curation_rl_length.png").exists()


def test_write_comparison_needs_runs(tmp_path):
    with pytest.raises(ValueError, match="at least one run"):
        write_comparison(tmp_path, {})
