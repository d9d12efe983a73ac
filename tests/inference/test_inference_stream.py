"""Streaming text: reasoning/answer deltas joined equal parse_completion of the whole text."""

import random

import pytest

from mgrd.chat import parse_completion
from mgrd.inference.stream import ReasoningSplitter

CASES = [
    "The first tone is higher.\n</think>\nA",
    "\n</think>\nB",
    "<think>\nrepeated prefill\n</think>\n  answer with  spaces  \n",
    "counting: 1, 2, 3",
    "a\n</think>\nB\n</think>\nC",
    "x <think> inside reasoning\n</think>\nanswer <think> stray",
    "   \n\n  ",
    "</think>",
    "multi\nline\n\nreasoning\n</think>\nline one\n\nline two",
    "ends with partial </thi",
    "<<think>>\n</think>\n<",
]


def _stream(text: str, cuts: list[int], **kw):
    splitter = ReasoningSplitter(**kw)
    reasoning = answer = ""
    pieces = [text[i:j] for i, j in zip([0] + cuts, cuts + [len(text)])]
    for piece in pieces:
        d = splitter.feed(piece)
        reasoning, answer = reasoning + d.reasoning, answer + d.answer
    d = splitter.finish()
    return reasoning + d.reasoning, answer + d.answer, splitter


@pytest.mark.parametrize("text", CASES)
def test_any_chunking_joins_to_parse_completion(text):
    rng = random.Random(0)
    expected = parse_completion(text)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(0, 8)))) if len(text) > 1 else []
        reasoning, answer, _ = _stream(text, cuts)
        assert (reasoning, answer) == (expected.reasoning, expected.answer), cuts


def test_char_by_char_equals_whole():
    text = "I hear 5 beeps.\n</think>\nThe answer is 5."
    r1, a1, _ = _stream(text, list(range(1, len(text))))
    r2, a2, _ = _stream(text, [])
    assert (r1, a1) == (r2, a2) == ("I hear 5 beeps.", "The answer is 5.")


def test_stop_string_truncates_and_stops():
    reasoning, answer, splitter = _stream("r\n</think>\nfirst STOP second", [5, 17, 20], stop=("STOP",))
    assert (reasoning, answer, splitter.stopped) == ("r", "first", True)


def test_closed_reasoning_start_goes_to_answer():
    reasoning, answer, _ = _stream("just the answer", [4], reasoning_open=False)
    assert (reasoning, answer) == ("", "just the answer")
