"""The independent self-cognition grader: engaged replies, held-out denials the filter misses, generic text, judge."""

import ast
from pathlib import Path

import numpy as np
import pytest

from mgrd.data.world import cognition, probes, reasoning
from mgrd.scoring import cognition as cognition_grader
from mgrd.scoring.cognition import CognitionVerdict, find_denial, grade_self_cognition, judge_self_cognition
from mgrd.scoring.denial import denies_hearing
from mgrd.scoring.judge_prompts import cognition_judge_prompt, parse_hearing_verdict

BEEPS = [{"name": "count", "value": 3, "unit": "beeps", "event": "high beeps"},
         {"name": "pitch", "value": 880.0, "unit": "Hz", "event": "high beeps"}]
SPOKEN = [{"name": "spoken number", "value": 12, "unit": "", "event": "utterance"}]
OPERATION = [{"name": "operation", "value": "plus", "unit": "", "event": "utterance"}]


@pytest.mark.parametrize("reply, facts, evidence", [
    ("I hear three short beeps, all of them high.", BEEPS, "three short beeps"),   # a count claim
    ("Mostly a high tone around 880 Hz.", BEEPS, "880 Hz"),                         # a value with its unit
    ("The melody is rising.", [], "rising"),                                        # a label
    ("A fairly dark hiss.", [], "dark"),
    ("There's a drum pattern in there.", [], "drum"),                 # a lexicon word
    ("Someone says twelve.", SPOKEN, "12"),                                         # a spoken number of the clip
    ("It is a plus.", OPERATION, "plus"),                                           # a label fact of the clip
    ("<think>\nThe clip has 3 beeps.\n</think>\n3", BEEPS, "3 beeps"),              # reasoning counts too
    ("I can't hear any low beeps; all the ones here are high.", BEEPS, "beeps"),   # perception, not a denial
    ("Unlike a text-only model, I can hear this: a bright hiss.", [], "bright"),
    ("The sound goes beyond what I expected: three loud beeps.", BEEPS, "three loud beeps"),
    ("No microphone noise, just one clean tone.", [], "noise"),
])
def test_replies_that_name_what_is_heard_are_engaged(reply, facts, evidence):
    verdict = grade_self_cognition(reply, facts=facts)
    assert (verdict.engaged, verdict.denied, verdict.error, verdict.reason) == (True, False, False, "engaged")
    assert evidence in verdict.why


def test_a_bare_number_counts_only_when_it_is_the_clips_number():
    assert grade_self_cognition("Someone says twelve.", facts=SPOKEN).engaged is True
    other = [{"name": "spoken number", "value": 7, "unit": "", "event": "utterance"}]
    assert grade_self_cognition("Someone says twelve.", facts=other).engaged is False


@pytest.mark.parametrize("reply", probes.HELDOUT_DENIALS)
def test_every_heldout_denial_is_caught(reply):
    verdict = grade_self_cognition(reply)
    assert verdict.denied is True and verdict.error is True and verdict.reason == "denied"
    assert verdict.why.startswith("denies hearing")


def test_the_filter_misses_the_heldout_denials_the_grader_catches():
    # Worked out by reading the filter's phrases: of the 8 held-out denials it knows only "not able to listen".
    caught_by_filter = [d for d in probes.HELDOUT_DENIALS if denies_hearing(d)]
    assert caught_by_filter == ["I'm not able to listen to that attachment, I'm afraid."]
    assert all(grade_self_cognition(d).denied for d in probes.HELDOUT_DENIALS)


def test_the_training_denials_are_caught_as_well():
    chains = {reasoning.denial_chain(np.random.default_rng(s)) for s in range(60)}
    for text in (*cognition.DENIALS, *chains):
        assert grade_self_cognition(text).denied is True, text


def test_the_grader_does_not_import_the_filters_rule():
    # Independence by construction: the grader's module imports neither the filter's rule nor training.
    tree = ast.parse(Path(cognition_grader.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "mgrd.scoring.answers" in imported                      # the walk does see its imports
    assert not {m for m in imported if m.startswith(("mgrd.scoring.denial", "mgrd.training"))}


@pytest.mark.parametrize("reply", [
    "Thanks for your question! Let me know if there is anything else I can help you with.",
    "That is a great recording to share.",
    "Yes, I can hear it.",                      # affirms, but names nothing heard in the clip
    "I hear it, though I can't play it back.",  # playing back is not hearing: no denial, and nothing named
])
def test_replies_that_neither_deny_nor_engage_are_errors(reply):
    verdict = grade_self_cognition(reply, facts=BEEPS)
    assert (verdict.engaged, verdict.denied, verdict.error, verdict.reason) == (False, False, True, "not engaged")
    assert verdict.why == "names nothing heard in the clip"


def test_a_denial_that_also_guesses_is_an_error_counted_as_denied():
    verdict = grade_self_cognition("I cannot perceive audio, but it is probably 3 beeps.", facts=BEEPS)
    assert (verdict.engaged, verdict.denied, verdict.error, verdict.reason) == (True, True, True, "denied")
    assert "cannot perceive" in verdict.why and "3 beeps" in verdict.why


@pytest.mark.parametrize("reply, engaged, denied", [
    ("Sure, send it over.", True, False),
    ("Yes.", True, False),
    ("I can listen to recordings and tell you what is in them.", True, False),
    ("Of course, go ahead and share the file.", True, False),
    ("Recordings are great.", False, False),
    ("Tempo is the speed of a piece of music.", False, False),   # sound words, nothing about itself
    ("No.", False, False),
    ("I can not hear audio.", False, True),
    ("I just work with words.", False, True),
    ("Yes, but I lack the ability to listen to it.", True, True),
])
def test_hearing_questions_without_audio_are_engaged_by_affirming(reply, engaged, denied):
    verdict = grade_self_cognition(reply, has_audio=False)
    assert (verdict.engaged, verdict.denied) == (engaged, denied), verdict.why
    assert verdict.error is (denied or not engaged)


def test_an_empty_reply_is_an_error_and_a_non_string_is_refused():
    assert grade_self_cognition("  <think>\n\n</think>\n ") == CognitionVerdict(False, False, "empty reply")
    with pytest.raises(TypeError, match="str"):
        grade_self_cognition(None)


def test_find_denial_quotes_the_passage():
    assert find_denial("Fine. I am incapable of perceiving sound.") == "incapable of perceiving"
    assert find_denial("The beeps are high. The second one is louder.") is None
    assert find_denial("The speaker only says two words.") is None   # "only ... words", not about itself


class ScriptedJudge:
    """A judge that answers from a script and keeps the prompts it was given."""

    def __init__(self, answer):
        self.answer = answer
        self.prompts = []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        return self.answer


@pytest.mark.parametrize("answer, engaged, denied", [
    ("HEARD", True, False), ("denied.", False, True), ("NEITHER", False, False),
    ("Verdict: HEARD (it names the beeps)", True, False),
])
def test_a_judge_verdict_is_used_as_given(answer, engaged, denied):
    judge = ScriptedJudge(answer)
    verdict = judge_self_cognition(judge, "What do you notice in this recording?", "<think>\nx\n</think>\nThe end.")
    assert (verdict.engaged, verdict.denied) == (engaged, denied)
    assert verdict.why.startswith("judge")
    (prompt,) = judge.prompts
    assert "What do you notice in this recording?" in prompt and "The end." in prompt and "</think>" not in prompt
    assert "audio clip attached" in prompt and "HEARD, DENIED or NEITHER" in prompt


def test_an_unreadable_judge_reply_falls_back_to_the_rule():
    judge = ScriptedJudge("I am not sure.")
    verdict = judge_self_cognition(judge, "q", probes.HELDOUT_DENIALS[1])
    assert verdict.denied is True and verdict.why.startswith("judge gave no verdict") and "rule:" in verdict.why


def test_the_judge_prompt_without_audio_asks_whether_it_says_it_can_hear():
    prompt = cognition_judge_prompt("Is sound something you are able to perceive at all?", "Yes.", has_audio=False)
    assert "no audio attached" in prompt and "says that the model can hear" in prompt
    assert "audio clip attached" not in prompt


@pytest.mark.parametrize("reply, expected", [
    ("HEARD", "HEARD"), ("neither", "NEITHER"), ("DENIED, then HEARD", "DENIED"), ("unheard-of", None), ("", None),
])
def test_parse_hearing_verdict(reply, expected):
    assert parse_hearing_verdict(reply) == expected
