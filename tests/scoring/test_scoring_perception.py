"""Claim accuracy per fact type: the verbal rungs of the perception ladder."""

import pytest

from mgrd.scoring.perception import claim_accuracy_by_type

FACTS = [{"name": "count", "value": 3, "unit": "beeps", "event": "all beeps"},
         {"name": "tempo", "value": 120.0, "unit": "BPM", "event": "beat"},
         {"name": "chord", "value": "minor", "unit": "", "event": "chord"}]


def test_right_and_wrong_claims_count_for_their_fact_type():
    out = claim_accuracy_by_type(["I hear 3 beeps at a tempo of 150 BPM.", "The chord sounds minor. I hear 4 beeps."],
                                 [FACTS, FACTS])
    assert out["by_type"] == {"count": {"accuracy": 0.5, "n": 2}, "tempo": {"accuracy": 0.0, "n": 1},
                              "chord": {"accuracy": 1.0, "n": 1}}
    assert out["checked"] == 4 and out["texts"] == 2


def test_claims_without_a_fact_are_unverifiable_not_right():
    out = claim_accuracy_by_type(["The tone is at 440 Hz."], [FACTS])    # no pitch fact
    assert out["by_type"] == {} and out["unverifiable"] == 1 and out["checked"] == 0


def test_texts_and_facts_must_pair_up():
    with pytest.raises(ValueError):
        claim_accuracy_by_type(["a", "b"], [FACTS])
    with pytest.raises(ValueError, match="accepted"):
        claim_accuracy_by_type([], [], statements="some")
