"""Event binding in the grounding verifier: a claim is checked against the fact of the event it names."""

from __future__ import annotations

from mgrd.scoring.events import Reader, Vocabulary, parse_event
from mgrd.scoring.grounding import verify_grounding


def _fact(name, value, unit, event):
    return {"name": name, "value": value, "unit": unit, "event": event}


TWO_NOTES = [_fact("pitch", 440.0, "Hz", "note 1"), _fact("pitch", 659.3, "Hz", "note 2"),
             _fact("interval", 7, "semitones", "note 1 to note 2")]
BEEPS = [_fact("count", 8, "beeps", "all beeps"), _fact("count", 3, "beeps", "high beeps"),
         _fact("count", 5, "beeps", "low beeps"), _fact("pitch", 659.3, "Hz", "high beeps"),
         _fact("pitch", 440.0, "Hz", "low beeps")]
CHORD = [_fact("chord", "minor", "", "chord"), _fact("pitch", 220.0, "Hz", "root"),
         _fact("pitch", 261.6, "Hz", "third"), _fact("pitch", 329.6, "Hz", "fifth"),
         _fact("interval", 3, "semitones", "root to third")]
# beeps_plus_interval: 7 beeps (5 high, 2 low) in clip 1, two notes 329.6 -> 659.3 Hz in clip 2.
TWO_CLIPS = [_fact("count", 7, "beeps", "clip 1, all beeps"), _fact("count", 5, "beeps", "clip 1, high beeps"),
             _fact("count", 2, "beeps", "clip 1, low beeps"), _fact("pitch", 523.3, "Hz", "clip 1, high beeps"),
             _fact("pitch", 277.2, "Hz", "clip 1, low beeps"), _fact("pitch", 329.6, "Hz", "clip 2, note 1"),
             _fact("pitch", 659.3, "Hz", "clip 2, note 2"),
             _fact("interval", 12, "semitones", "clip 2, note 1 to note 2")]
MELODY = [_fact("pitch", v, "Hz", f"note {i + 1}") for i, v in enumerate((311.1, 246.9, 293.7, 329.6))] + [
    _fact("contour", "valley", "", "melody")]


def _verdicts(chain, facts):
    return [(c.text, c.matched, c.event) for c in verify_grounding(chain, facts).claims]


def _any_fact_check(chain, facts):
    """What an event-blind check says: does each pitch claim lie within a semitone of SOME pitch fact?"""
    import math
    pitches = [f["value"] for f in facts if f["unit"] == "Hz"]
    return all(any(abs(12 * math.log2(c.value / p)) <= 1 for p in pitches)
               for c in verify_grounding(chain, facts).claims if c.quantity == "pitch")


def test_fact_events_are_parsed_with_their_clip():
    assert parse_event("clip 2, note 1").clip == 2 and parse_event("clip 2, note 1").part == "note 1"
    assert parse_event("high beeps").clip is None and parse_event("High Beeps").part == "high beeps"


def test_swapped_pitches_are_wrong_though_both_values_exist():
    chain = "The first note is 659.3 Hz, the second 440.0 Hz."
    assert _any_fact_check(chain, TWO_NOTES)  # the old, event-blind check accepted this
    assert _verdicts(chain, TWO_NOTES) == [("659.3 Hz", False, "note 1"), ("440.0 Hz", False, "note 2")]
    assert verify_grounding(chain, TWO_NOTES).claim_accuracy == 0.0
    right = "The first note is 440.0 Hz, the second 659.3 Hz."
    assert _verdicts(right, TWO_NOTES) == [("440.0 Hz", True, "note 1"), ("659.3 Hz", True, "note 2")]


def test_correct_paraphrases_in_other_words_are_right():
    for chain in ("The opening tone sits near 440 Hz; the next one is at about 659 Hz.",
                  "Note 1 is at 445 Hz and note 2 at 650 Hz.",
                  "I hear two notes: 440 Hz then 659 Hz.",
                  "440 Hz belongs to the first note.\nThe last note is at 659 Hz.",
                  "I hear the opening tone near 440 Hz. After it comes a higher tone at about 659 Hz.",
                  "The highest note is at 660 Hz and the lowest note at 438 Hz."):
        g = verify_grounding(chain, TWO_NOTES)
        assert g.claim_accuracy == 1.0 and all(c.matched for c in g.claims), chain
    # The same wordings with the values exchanged are wrong.
    for chain in ("The opening tone sits near 659 Hz; the next one is at about 440 Hz.",
                  "I hear two notes: 659 Hz then 440 Hz.", "The highest note is at 440 Hz."):
        assert all(c.matched is False for c in verify_grounding(chain, TWO_NOTES).claims if c.quantity == "pitch")


def test_swapped_and_off_by_one_beep_counts_are_wrong():
    assert _verdicts("I hear 5 high beeps and 3 low beeps.", BEEPS) == [
        ("5 high beeps", False, "high beeps"), ("3 low beeps", False, "low beeps")]
    assert _verdicts("I hear 3 high beeps and 5 low beeps, 8 beeps in all.", BEEPS) == [
        ("3 high beeps", True, "high beeps"), ("5 low beeps", True, "low beeps"), ("8 beeps", True, "all beeps")]
    # Off by one, each way.
    assert _verdicts("I hear 4 high beeps and 4 low beeps, 9 beeps in all.", BEEPS) == [
        ("4 high beeps", False, "high beeps"), ("4 low beeps", False, "low beeps"), ("9 beeps", False, "all beeps")]
    # The count of one group is not right for another: 5 is the low count, not the total.
    assert _verdicts("I count 5 beeps.", BEEPS) == [("5 beeps", False, "all beeps")]
    # Pitches follow the group named before them ("the low ones").
    assert _verdicts("The high beeps are at 659 Hz and the low ones at 440 Hz.", BEEPS) == [
        ("659 Hz", True, "high beeps"), ("440 Hz", True, "low beeps")]
    assert _verdicts("The high beeps are at 440 Hz and the low ones at 659 Hz.", BEEPS) == [
        ("440 Hz", False, "high beeps"), ("659 Hz", False, "low beeps")]


def test_claims_bound_to_no_event_are_unverifiable_unless_one_fact_exists():
    # Two pitch facts: "a note" names neither, so the claim is not counted as right (nor as wrong).
    g = verify_grounding("I hear a note at 440 Hz and notes at 659 Hz.", TWO_NOTES)
    assert [(c.matched, c.event) for c in g.claims] == [(None, None), (None, None)]
    assert g.claim_accuracy is None
    # A group with several facts is not one event either: "the beeps" have two pitches.
    assert _verdicts("I hear the beeps at 440 Hz.", BEEPS) == [("440 Hz", None, None)]
    # One pitch fact: the claim can only be about it.
    one = [_fact("pitch", 440.0, "Hz", "note 1")]
    assert _verdicts("I hear a tone at 445 Hz.", one) == [("445 Hz", True, "note 1")]
    assert _verdicts("I hear a tone at 500 Hz.", one) == [("500 Hz", False, "note 1")]
    # An event the item does not have is wrong, whatever the value.
    assert _verdicts("The third note is at 440 Hz.", TWO_NOTES) == [("440 Hz", False, "note 3")]


def test_binding_follows_the_nearest_event_before_and_carries_only_into_statements_naming_none():
    # Nearest mention before the claim, within the statement.
    assert _verdicts("After the first note at 440 Hz comes the second note at 659 Hz.", TWO_NOTES) == [
        ("440 Hz", True, "note 1"), ("659 Hz", True, "note 2")]
    # A statement naming no event inherits the last statement's events...
    assert _verdicts("Then comes the second note.\nIt is at 659 Hz.", TWO_NOTES) == [("659 Hz", True, "note 2")]
    assert _verdicts("Then comes the second note.\nIt is at 440 Hz.", TWO_NOTES) == [("440 Hz", False, "note 2")]
    # ...but one that names an event of its own ("a tone", unbound) does not.
    assert _verdicts("Then comes the second note.\nA tone is at 659 Hz.", TWO_NOTES) == [("659 Hz", None, None)]
    # Several statements on: "The highest ... the lowest" bind the interval of the next statement.
    # Highest 329.6 Hz (note 4), lowest 246.9 Hz (note 2): 12 log2(329.6 / 246.9) = 5.0 semitones.
    chain = "I hear 4 notes.\nThe highest is E4 and the lowest B3.\nE4 is 5 semitones above B3."
    assert _verdicts(chain, MELODY)[-1] == ("5 semitones", True, "note 4 to note 2")
    assert _verdicts(chain.replace("5 semitones", "7 semitones"), MELODY)[-1][1] is False


def test_listed_values_are_the_members_of_the_group_in_order():
    chain = "Listening, I hear 4 notes: 311.1 Hz (D#4), 246.9 Hz (B3), 293.7 Hz (D4), 329.6 Hz (E4)."
    assert _verdicts(chain, MELODY) == [("4 notes", True, "all notes"), ("311.1 Hz", True, "note 1"),
                                        ("246.9 Hz", True, "note 2"), ("293.7 Hz", True, "note 3"),
                                        ("329.6 Hz", True, "note 4")]
    reordered = "Listening, I hear 4 notes: 246.9 Hz, 311.1 Hz, 293.7 Hz, 329.6 Hz."
    assert [m for _, m, _ in _verdicts(reordered, MELODY)] == [True, False, False, True, True]
    assert _verdicts("I hear 5 notes.", MELODY) == [("5 notes", False, "all notes")]


def test_multi_clip_items_bind_each_claim_to_its_clip():
    right = ("I hear 7 beeps in the first clip (5 high, 2 low).\n"
             "I can hear two notes in the second clip, 329.6 Hz (E4) then 659.3 Hz (E5).\n"
             "The notes are 12 semitones apart.")
    assert _verdicts(right, TWO_CLIPS) == [
        ("7 beeps", True, "clip 1, all beeps"), ("two notes", True, "clip 2, all notes"),
        ("329.6 Hz", True, "clip 2, note 1"), ("659.3 Hz", True, "clip 2, note 2"),
        ("12 semitones", True, "clip 2, note 1 to note 2")]
    swapped = "I hear 7 beeps in the second clip.\nI can hear two notes in the first clip, 329.6 Hz then 659.3 Hz."
    assert [(m, e) for _, m, e in _verdicts(swapped, TWO_CLIPS)] == [
        (False, "clip 2"), (False, "clip 1"), (False, "clip 1, note 1"), (False, "clip 1, note 2")]
    # The high beeps' pitch is not right for clip 2's first note, though it is a pitch of the item.
    assert _verdicts("In clip 2 the first note is at 523.3 Hz.", TWO_CLIPS) == [
        ("523.3 Hz", False, "clip 2, note 1")]
    assert _verdicts("In clip 1 the high beeps are at 523.3 Hz.", TWO_CLIPS) == [
        ("523.3 Hz", True, "clip 1, high beeps")]


def test_chord_tones_root_third_and_fifth():
    right = "I hear three notes at once: the root at 220.0 Hz, the third at 261.6 Hz and the fifth at 329.6 Hz."
    assert _verdicts(right, CHORD) == [("three notes", True, "all notes"), ("220.0 Hz", True, "root"),
                                       ("261.6 Hz", True, "third"), ("329.6 Hz", True, "fifth")]
    swapped = "The root is at 261.6 Hz and the third at 220.0 Hz."
    assert [m for _, m, _ in _verdicts(swapped, CHORD)] == [False, False]
    assert _verdicts("I hear a third 3 semitones above the root, so the chord is minor.", CHORD) == [
        ("3 semitones", True, "root to third"), ("minor", True, "chord")]
    assert _verdicts("I hear a third 4 semitones above the root.", CHORD) == [
        ("4 semitones", False, "root to third")]
    # No interval fact for root to fifth: the distance of their two pitches (7 semitones) is the truth.
    assert _verdicts("The fifth is 7 semitones above the root.", CHORD) == [
        ("7 semitones", True, "fifth to root")]
    # The chord has three intervals among its tones: one said of "the chord" is about none in particular;
    # one that names nothing at all is about the item's only interval fact.
    assert _verdicts("The chord spans 3 semitones.", CHORD) == [("3 semitones", None, None)]
    assert _verdicts("The interval is 3 semitones.", CHORD) == [("3 semitones", True, "root to third")]


def test_mentions_are_read_against_the_item_vocabulary():
    notes, sounds = Vocabulary.of(parse_event(e) for e in ("note 1", "note 2")), \
        Vocabulary.of(parse_event(e) for e in ("sound 1", "sound 2", "sound 3"))
    assert [m.part for m in Reader(notes).mentions("The second tone is higher.")] == ["note 2"]
    assert [m.part for m in Reader(sounds).mentions("The second tone lasts longer.")] == ["sound 2"]
    # An elided noun takes the kind named last: "the second and third" are sounds here.
    reader = Reader(sounds)
    reader.mentions("I hear the first sound.")
    assert [m.part for m in reader.mentions("Together the second and third last longer.")] == ["sound 2", "sound 3"]
    # "First," opening a sentence is no event.
    assert Reader(notes).mentions("First, what do I actually hear?") == []
