"""Completion parsing: reasoning, answer and well-formedness (format reference §7)."""

import doctest

import pytest

import mgrd.chat.completion
from mgrd.chat import Completion, parse_completion


@pytest.mark.parametrize("text, expected", [
    ("The tone rises.\n</think>\nB", Completion("The tone rises.", "B", True)),
    ("The tone rises.\n</think>\nB<|EOT|>", Completion("The tone rises.", "B", True)),
    ("r\n</think>\nB<|EOT|>garbage after the stop", Completion("r", "B", True)),
    ("r\n</think>\nB<|endoftext|><|endoftext|>", Completion("r", "B", True)),
    ("r\n</think>\nB<|EOT|><|endoftext|>", Completion("r", "B", True)),
    ("\n</think>\nB", Completion("", "B", True)),                          # no-reasoning format
    ("<think>\nhmm\n</think>\nB", Completion("hmm", "B", True)),          # prefill repeated
    ("  <think>hmm</think>B", Completion("hmm", "B", True)),
    ("r\n</think>\n", Completion("r", "", True)),                          # empty answer, format holds
    ("counting: 1, 2", Completion("counting: 1, 2", "", False)),           # truncated reasoning
    ("counting<|EOT|>", Completion("counting", "", False)),
    ("", Completion("", "", False)),
    ("a\n</think>\nB\n</think>\nC", Completion("a", "B\n\nC", False)),     # two </think>
    ("a\n</think>\n<think>B", Completion("a", "B", False)),               # stray <think> in the answer
    ("  a \n</think>\n  The answer is <RESPONSE>B</RESPONSE>  \n",
     Completion("a", "The answer is <RESPONSE>B</RESPONSE>", True)),
])
def test_parse_completion(text, expected):
    assert parse_completion(text) == expected


def test_docstring_examples_hold():
    result = doctest.testmod(mgrd.chat.completion)
    assert result.attempted == 5 and result.failed == 0


def test_non_string_raises():
    with pytest.raises(TypeError, match="str"):
        parse_completion(None)
