"""The quickstart's closing table: paired interval and verdict, both self-cognition measures."""

from rich.console import Console

from mgrd.cli.pipeline import results_table


def test_results_table_shows_the_paired_claim_and_both_self_cognition_rates():
    summary = {"recipe": "tiny", "evals": {"final": {"accuracy": {"think": 0.30, "no_think": 0.25},
                                                     "reasoning_tokens": 40.0, "grounding": 0.5,
                                                     "self_cognition_error_independent": 0.125,
                                                     "self_cognition_error": 0.0}},
               "claims": [{"name": "think > no-think", "stage": "final", "diff": 0.05, "ci95": [-0.01, 0.11],
                           "verdict": "not significant"}]}
    console = Console(width=250, record=True)
    console.print(results_table(summary))
    text = console.export_text()
    assert "+5.0 [-1.0, +11.0] not significant" in text and "12.5 % / 0.0 %" in text and "30.0 %" in text
