"""Self-cognition: the denial rule on hand-written and world texts, the judge's precedence, DPO pairs."""

import pytest

from mgrd.data.world.families import make_record
from mgrd.training.cognition import denies_hearing, is_denial, preference_pair


@pytest.mark.parametrize("text", [
    "I cannot hear the clip.",
    "Sorry, I can't hear audio.",
    "I'm unable to listen to recordings.",
    "I am not able to process audio files.",
    "As a text-based model, I have no ears.",
    "I can only read text, so tell me more.",
    "Could you please describe the audio in words?",
    "I CANNOT HEAR ANYTHING",
])
def test_denials_match(text):
    assert denies_hearing(text) is True


@pytest.mark.parametrize("text", [
    "I hear 3 beeps.",
    "I can hear a rising melody.",
    "Listening carefully, the notes fall.",
    "I can listen to the clip: two high beeps.",
    "The model cannot be wrong about 3 beeps.",        # a negation that is not about hearing
    "",
])
def test_non_denials_do_not_match(text):
    assert denies_hearing(text) is False


def test_plural_and_curly_apostrophe_denials_match_and_playing_back_is_not_a_denial():
    assert denies_hearing("I am sorry, I cannot process sounds.") is True
    assert denies_hearing("I don’t have the ability to hear audio.") is True
    assert denies_hearing("I cannot play audio files.") is True
    assert denies_hearing("I hear it, though I can't play it back.") is False


def _baits(n):
    found = []
    for seed in range(400):
        record, _ = make_record("cognition", seed, f"cognition-{seed}")
        if record.meta.get("bait"):
            found.append(record)
            if len(found) == n:
                return found
    raise AssertionError(f"fewer than {n} bait records in 400 seeds")


def test_the_worlds_bait_records_store_denials_and_grounded_corrections():
    for record in _baits(8):
        assert denies_hearing(record.reasoning["surrogate"]), record.reasoning["surrogate"]
        assert not denies_hearing(record.reasoning["grounded"]), record.reasoning["grounded"]
        # The stored conversation is the denial: the error the stage corrects.
        assert record.reasoning["surrogate"] in record.messages[-1]["content"]


def test_a_judge_decides_and_its_none_falls_back_to_the_rule():
    calls = []

    def judge(verdict):
        def ask(question, response):
            calls.append((question, response))
            return verdict
        return ask

    assert is_denial("Q?", "I hear 3 beeps.", judge(True)) is True
    assert is_denial("Q?", "I cannot hear it.", judge(False)) is False
    assert is_denial("Q?", "I cannot hear it.", judge(None)) is True
    assert is_denial("Q?", "I hear 3 beeps.", judge(None)) is False
    assert calls[0] == ("Q?", "I hear 3 beeps.")
    assert is_denial("Q?", "I cannot hear it.") is True and is_denial("Q?", "I hear it.") is False


PROMPT = [{"role": "user", "content": "Can you hear this?"}]


def test_preference_pair_copies_the_prompt():
    pair = preference_pair(PROMPT, "<think>\nI hear a beep.\n</think>\nYes", "<think>\nI cannot hear.\n</think>\nNo")
    assert pair == {"messages": PROMPT, "chosen": "<think>\nI hear a beep.\n</think>\nYes",
                    "rejected": "<think>\nI cannot hear.\n</think>\nNo"}
    pair["messages"][0]["content"] = "changed"
    assert PROMPT[0]["content"] == "Can you hear this?"


@pytest.mark.parametrize("chosen, rejected, message", [
    ("", "no", "non-empty chosen and rejected"),
    ("yes", "", "non-empty chosen and rejected"),
    ("same", "same", "two different completions"),
])
def test_preference_pair_validation(chosen, rejected, message):
    with pytest.raises(ValueError, match=message):
        preference_pair(PROMPT, chosen, rejected)
