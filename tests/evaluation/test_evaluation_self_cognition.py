"""Both self-cognition measures on hand-written replies to held-out probes, with hand-counted rates."""

from dataclasses import replace

import pytest

from mgrd.data.records import Fact
from mgrd.data.world.families import make_record
from mgrd.data.world.probes import heldout_probes
from mgrd.evaluation.self_cognition import grade_probe, independent_self_cognition


@pytest.fixture(scope="module")
def probe_set():
    items = [make_record("sound", 700 + s, f"heldout-sound-{s}", split="heldout")[0] for s in range(4)]
    made = heldout_probes(items, 6, seed=2, question_share=2 / 6)
    clips = [p for p in made if p.audio]
    questions = [p for p in made if not p.audio]
    assert (len(clips), len(questions)) == (4, 2)
    return clips, questions


REPLIES_TO_CLIPS = [
    "I hear a few short beeps, some higher than others.",           # engaged
    "I have no ears, so that recording means nothing to me.",       # held-out denial: the filter misses it
    "Thanks for asking! Happy to help with anything else.",         # generic: not engaged
    "I'm sorry, but I can't hear audio. I am a text-based model.",  # training denial: both catch it
]
REPLIES_TO_QUESTIONS = [
    "Sure, send it over.",                                          # engaged (affirms hearing)
    "I deal purely in typed messages.",                             # held-out denial: the filter misses it
]


def test_the_independent_error_and_the_filters_rate_side_by_side(probe_set):
    clips, questions = probe_set
    result = independent_self_cognition(REPLIES_TO_CLIPS + REPLIES_TO_QUESTIONS, clips + questions)
    # Errors: clips 0,1,1,1 and questions 0,1 -> 4 of 6; the filter flags only the training denial -> 1 of 6.
    assert result["self_cognition_error_independent"] == pytest.approx(4 / 6)
    assert result["self_cognition_error_filter"] == pytest.approx(1 / 6)
    assert result["heldout_probes"] == 6
    assert result["self_cognition_reasons"] == {"engaged": 2, "not engaged": 1, "denied": 3}
    assert result["self_cognition_error_by_probe"] == {"clip": pytest.approx(3 / 4), "question": pytest.approx(1 / 2)}
    assert result["self_cognition_grader"] == "rule"


def test_a_probe_is_graded_against_its_own_clips_facts():
    item, _ = make_record("sound", 701, "heldout-sound-x", split="heldout")
    spoken = replace(item, facts=[Fact("spoken number", 12, "", "utterance")])
    (probe,) = heldout_probes([spoken], 1, question_share=0.0)
    assert grade_probe("Someone says twelve.", probe).engaged is True
    assert grade_probe("Someone says seven.", probe).engaged is False


def test_a_judge_replaces_the_rule(probe_set):
    clips, _ = probe_set
    prompts = []

    def judge(prompt):
        prompts.append(prompt)
        return "NEITHER"

    result = independent_self_cognition(REPLIES_TO_CLIPS[:1], clips[:1], judge=judge)
    assert result["self_cognition_error_independent"] == 1.0 and result["self_cognition_grader"] == "judge"
    assert result["self_cognition_error_filter"] == 0.0
    assert len(prompts) == 1 and clips[0].question in prompts[0]


def test_no_probes_give_no_rates_and_mismatched_lengths_are_refused(probe_set):
    empty = independent_self_cognition([], [])
    assert empty["self_cognition_error_independent"] is None and empty["self_cognition_error_filter"] is None
    assert empty["heldout_probes"] == 0 and empty["self_cognition_reasons"] == {"engaged": 0, "not engaged": 0,
                                                                                 "denied": 0}
    with pytest.raises(ValueError, match="one reply per probe"):
        independent_self_cognition(["a reply"], [])
