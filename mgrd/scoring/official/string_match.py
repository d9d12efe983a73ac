"""MMAU's and MMAR's `string_match`: word-set containment of the answer, no word of another choice.

Both benchmarks' `evaluation.py` score a prediction this way. The rule works on the choice *text*:
a bare letter ("B") shares no word with the answer text and so is always wrong, and a "B. text"
answer is wrong whenever the letter is also a word of another choice (e.g. "a").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"\b\w+\b")


def word_tokens(text: str) -> set[str]:
    """The set of lower-cased `\\w+` words of `text`."""
    return set(_WORD.findall(text.lower()))


def string_match(answer: str, prediction: str, choices: Sequence[str]) -> bool:
    """True iff every word of `answer` is in `prediction` and no word unique to another choice is.

    Words shared between the answer and another choice do not count against the prediction; a
    choice whose word set equals the answer's is ignored. An empty prediction is wrong.

    >>> string_match("a dog", "It is a dog.", ["a cat", "a dog"])
    True
    >>> string_match("a dog", "B", ["a cat", "a dog"])
    False
    >>> string_match("a dog", "not a cat but a dog", ["a cat", "a dog"])
    False
    """
    predicted = word_tokens(prediction)
    if not predicted:
        return False
    expected = word_tokens(answer)
    others: set[str] = set()
    for choice in choices:
        words = word_tokens(choice)
        if words != expected:
            others |= words - expected
    return expected <= predicted and not (predicted & others)
