"""The grounding verifier on hand-written chains (tolerances at their edges) and on the world's chains."""

from __future__ import annotations

import pytest

from mgrd.scoring.grounding import split_statements, statement_kind, verify_grounding

FACTS = [
    {"name": "pitch", "value": 440.0, "unit": "Hz", "event": "note 1"},
    {"name": "pitch", "value": 659.3, "unit": "Hz", "event": "note 2"},
    {"name": "count", "value": 5, "unit": "beeps", "event": "all beeps"},
    {"name": "tempo", "value": 120.0, "unit": "BPM", "event": "beat"},
    {"name": "duration", "value": 0.8, "unit": "s", "event": "sound 1"},
    {"name": "chord", "value": "minor", "unit": "", "event": "chord"},
]


def _matched(chain, facts=FACTS):
    return [(c.quantity, c.value, c.matched) for c in verify_grounding(chain, facts).claims]


def test_statements_are_classified_by_what_they_refer_to():
    assert split_statements("I hear a tone at 440.0 Hz. It lasts 0.8 s.\nSo the answer is B.") == [
        "I hear a tone at 440.0 Hz.", "It lasts 0.8 s.", "So the answer is B."]
    assert statement_kind("I hear a tone at 440 Hz.") == "acoustic"
    assert statement_kind("The caption says it is a drum loop.") == "text"
    assert statement_kind("The lyrics mention rain, so the song is sad.") == "text"
    assert statement_kind("Songs like this are usually in a major key.") == "text"
    assert statement_kind("I hear what is usually called a minor chord.") == "acoustic"  # heard, then named
    assert statement_kind("7 + 5 = 12.") == "neutral"
    assert statement_kind("So the answer is B. the second note.") == "neutral"


def test_pitch_claims_match_within_one_semitone():
    # 466.16 Hz is one semitone above 440 Hz: 466.1 is within it, 470 Hz is not.
    assert _matched("I hear a note at 466.1 Hz.") == [("pitch", 466.1, True)]
    assert _matched("I hear a note at 470 Hz.") == [("pitch", 470.0, False)]
    assert _matched("I hear a note at 0.44 kHz.") == [("pitch", 440.0, True)]


def test_tempo_within_8_percent_durations_within_15_percent_counts_exact():
    assert _matched("The beat is at 129 BPM.") == [("tempo", 129.0, True)]       # 7.5 % off
    assert _matched("The beat is at 130 BPM.") == [("tempo", 130.0, False)]      # 8.3 % off
    assert _matched("The tone lasts 0.92 s.") == [("duration", 0.92, True)]      # 15 % off
    assert _matched("The tone lasts 950 ms.") == [("duration", 0.95, False)]     # 18.75 % off
    assert _matched("I count 5 beeps.") == [("count", 5.0, True)]
    assert _matched("I count six short beeps.") == [("count", 6.0, False)]
    assert _matched("I hear 120 beats per minute.") == [("tempo", 120.0, True)]  # not a count of 120 beats


def test_labels_and_intervals_are_checked_exactly_and_unknown_quantities_are_not_counted():
    assert _matched("The chord sounds minor.") == [("label", "minor", True)]
    assert _matched("The chord sounds major.") == [("label", "major", False)]
    assert _matched("The melody is rising.") == [("label", "rising", None)]   # no contour fact
    # 440 -> 659.3 Hz is 7 semitones: an interval claim is checked against the distance of two pitches.
    assert _matched("The notes are 7 semitones apart.") == [("interval", 7.0, True)]
    assert _matched("The notes are 5 semitones apart.") == [("interval", 5.0, False)]


def test_scores_of_grounded_surrogate_and_mixed_chains():
    grounded = ("I listen to the clip.\nI hear 5 beeps, then a note at 440 Hz and one at 659 Hz.\n"
                "The notes are 7 semitones apart, so 5 + 7 = 12.\nSo the answer is 12.")
    g = verify_grounding(grounded, FACTS)
    assert g.acoustic_share == 1.0 and g.claim_accuracy == 1.0 and g.score == 1.0
    surrogate = ("The question mentions beeps and notes. Questions like this usually expect 4 beeps.\n"
                 "I will go with that guess.\nSo the answer is 11.")
    s = verify_grounding(surrogate, FACTS)
    assert s.acoustic_share == 0.0 and s.claim_accuracy is None and s.score == 0.0
    assert [(c.value, c.matched, c.statement) for c in s.claims] == [(4.0, False, "text")]
    # Two acoustic statements, one textual; of the three checked claims one is wrong: (2/3 + 2/3) / 2.
    mixed = "I hear 5 beeps at 440 Hz.\nThe tempo is 150 BPM.\nThe title suggests a march."
    m = verify_grounding(mixed, FACTS)
    assert m.acoustic_share == pytest.approx(2 / 3) and m.claim_accuracy == pytest.approx(2 / 3)
    assert m.score == pytest.approx(2 / 3)


def test_without_facts_only_the_lexicon_counts():
    chain = "I hear a bright hiss at 6000 Hz.\nThe transcript says it is a kettle."
    result = verify_grounding(chain)
    assert result.claim_accuracy is None and all(c.matched is None for c in result.claims)
    assert result.score == result.acoustic_share == 0.5
    assert verify_grounding("").score == 0.0
    with pytest.raises(TypeError, match="takes the chain as a str"):
        verify_grounding(None)


def test_world_grounded_chains_score_high_and_surrogates_low():
    from mgrd.data.world import make_record

    grounded, surrogate = [], []
    for family in ("sound", "music", "composite", "cognition"):
        for seed in range(40):
            record, _ = make_record(family, seed, "x")
            if record.meta.get("bait"):
                continue
            grounded.append(verify_grounding(record.reasoning["grounded"], record.facts))
            surrogate.append(verify_grounding(record.reasoning["surrogate"], record.facts).score)
    assert min(g.score for g in grounded) >= 0.9
    assert sum(g.claim_accuracy is not None for g in grounded) / len(grounded) > 0.9
    assert max(surrogate) <= 0.2
