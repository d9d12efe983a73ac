"""The grounding verifier on hand-written chains (tolerances at their edges) and on the world's chains.

Event binding (which note, beeps or clip a claim is about) has its own tests in test_scoring_events.py.
"""

from __future__ import annotations

import math

import pytest

from mgrd.scoring.grounding import (
    DURATION_TOLERANCE,
    PITCH_TOLERANCE,
    split_statements,
    statement_kind,
    verify_grounding,
)

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
    # 466.16 Hz is one semitone above 440 Hz (the first note): 466.1 is within it, 470 Hz is not.
    assert _matched("I hear the first note at 466.1 Hz.") == [("pitch", 466.1, True)]
    assert _matched("I hear the first note at 470 Hz.") == [("pitch", 470.0, False)]
    assert _matched("I hear the first note at 0.44 kHz.") == [("pitch", 440.0, True)]
    # 622.3 Hz is one semitone below the second note (659.3 Hz) and six above the first (440 Hz): right
    # for the second note, wrong for the first.
    assert _matched("The second note is at 622.3 Hz.") == [("pitch", 622.3, True)]
    assert _matched("The first note is at 622.3 Hz.") == [("pitch", 622.3, False)]


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
    grounded = ("I listen to the clip.\nI hear 5 beeps, then the first note at 440 Hz and the second at 659 Hz.\n"
                "The notes are 7 semitones apart, so 5 + 7 = 12.\nSo the answer is 12.")
    g = verify_grounding(grounded, FACTS)
    assert g.acoustic_share == 1.0 and g.claim_accuracy == 1.0 and g.score == 1.0
    surrogate = ("The question mentions beeps and notes. Questions like this usually expect 4 beeps.\n"
                 "I will go with that guess.\nSo the answer is 11.")
    s = verify_grounding(surrogate, FACTS)
    assert s.acoustic_share == 0.0 and s.claim_accuracy is None and s.score == 0.0
    assert [(c.value, c.matched, c.statement) for c in s.claims] == [(4.0, False, "text")]
    # Two acoustic statements, one textual; of the three checked claims one is wrong: (2/3 + 2/3) / 2.
    mixed = "I hear 5 beeps and the first note at 440 Hz.\nThe tempo is 150 BPM.\nThe title suggests a march."
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


AUDIO_FAMILIES = ("sound", "music", "composite", "cognition", "speech")


@pytest.fixture(scope="module")
def world_records():
    """200 items of each audio family (30 of speech, whose voice is slow; none without the voice)."""
    from mgrd.data.world import make_record
    from mgrd.data.world.voice import voice_missing

    records = {}
    for family in AUDIO_FAMILIES:
        if family == "speech" and voice_missing() is not None:
            continue
        n = 30 if family == "speech" else 200
        records[family] = [r for r in (make_record(family, seed, "x")[0] for seed in range(n))
                           if not r.meta.get("bait")]
    return records


def test_world_grounded_chains_score_high_and_surrogates_low(world_records):
    for family, records in world_records.items():
        grounded = [verify_grounding(r.reasoning["grounded"], r.facts) for r in records]
        surrogate = [verify_grounding(r.reasoning["surrogate"], r.facts).score for r in records]
        accuracies = [g.claim_accuracy for g in grounded if g.claim_accuracy is not None]
        assert accuracies and sum(accuracies) / len(accuracies) >= 0.9, family
        assert min(g.score for g in grounded) >= 0.9, family
        assert max(surrogate) <= 0.2, family
        if family != "speech":  # spoken numbers are not acoustic claims the verifier extracts
            assert sum(g.claim_accuracy is not None for g in grounded) / len(grounded) > 0.9, family


def test_world_chains_bind_every_claim_the_facts_can_check(world_records):
    # The world's chain templates name the event of each value ("the first note at ...", "the root at
    # ...", "the beat of the second clip at ..."): a claim is unbound only where no fact of its quantity
    # exists (a hit every 0.5 s in a tempo item), never because its event cannot be read.
    from mgrd.scoring.grounding import LABEL_GROUPS

    units = {"pitch": "hz", "tempo": "bpm", "duration": "s", "interval": "semitones"}
    for family, records in world_records.items():
        for record in records:
            for c in verify_grounding(record.reasoning["grounded"], record.facts).claims:
                if c.quantity == "label":
                    covered = any(f.name in LABEL_GROUPS and c.value in LABEL_GROUPS[f.name] for f in record.facts)
                elif c.quantity == "count":
                    covered = any(f.unit == c.unit for f in record.facts) or c.unit == "notes"
                elif c.quantity == "interval":  # a stated interval, or the distance of two pitches
                    covered = any(f.unit == "semitones" for f in record.facts) or \
                        sum(f.unit == "Hz" for f in record.facts) > 1
                else:
                    covered = any(f.unit.lower() == units[c.quantity] for f in record.facts)
                assert (c.matched is not None) == covered, (family, record.kind, c)


def _swapped(facts, name):
    """The facts with the values of `name` rotated one place among their events (None when fewer than two
    distinct values): the same values, each at another event."""
    at = [i for i, f in enumerate(facts) if f.name == name]
    values = [facts[i].value for i in at]
    if len(set(values)) < 2 or any(_close(name, a, b) for a, b in zip(values, values[1:] + values[:1])):
        return None
    out = list(facts)
    for i, value in zip(at, values[1:] + values[:1]):
        out[i] = type(facts[i])(facts[i].name, value, facts[i].unit, facts[i].event)
    return out


def _close(name, a, b):
    """Whether a value rotated to its neighbour's event would still be within tolerance of it."""
    if name == "pitch":
        return abs(12 * math.log2(a / b)) <= PITCH_TOLERANCE
    return abs(a - b) <= DURATION_TOLERANCE * b if name == "duration" else a == b


def test_world_chains_are_wrong_once_the_facts_change_events(world_records):
    # Rotating the pitches (or durations, or counts) among the events keeps every value present, so an
    # event-blind check still passes; bound to their events, the chain's claims no longer hold.
    tested = 0
    for family in ("sound", "music", "composite"):
        for record in world_records[family]:
            for name in ("pitch", "duration", "count"):
                facts = _swapped(record.facts, name)
                claims = [c for c in verify_grounding(record.reasoning["grounded"], record.facts).claims
                          if c.statement == "acoustic" and c.matched and c.fact and c.fact["name"] == name]
                if facts is None or len(claims) < 2:
                    continue
                after = verify_grounding(record.reasoning["grounded"], facts)
                assert after.claim_accuracy < 1.0, (record.kind, name, record.reasoning["grounded"])
                tested += 1
    assert tested > 150
