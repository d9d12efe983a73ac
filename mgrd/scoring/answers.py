"""Robust answer extraction: a free-form answer mapped to a choice index or a number.

Pure string functions (no torch). They never guess: an answer that names no choice, or names two
different ones, maps to None and is scored wrong by the caller. Choices with the same (normalised)
text are one answer: naming that text, or the letter of either copy, picks the first copy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TAGS = re.compile(r"<(RESPONSE|answer|ANSWER|response)>(.*?)</\1>", re.S)
_BARE_LETTER = re.compile(r"^\s*[\(\[]?([A-Za-z])[\)\]]?\s*[.:)]?\s*$")
_LEADING_LETTER = re.compile(r"^\s*[\(\[]?([A-Z])[\)\].:]\s*(.*)$", re.S)
_STATED_LETTER = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:option\s*|choice\s*)?[\(\[]?\s*([A-Z])\s*[\)\]]?(?![A-Za-z])",
    re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_NUMBER_WORDS = re.compile(
    r"\b(?:(" + "|".join(_TENS) + r")(?:[\s-](" + "|".join(list(_UNITS)[1:10]) + r"))?|(" + "|".join(_UNITS)
    + r")|(hundred))\b", re.I)


def normalize(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def unwrap_tags(answer: str) -> str:
    """The text inside the last <RESPONSE>/<answer> tag pair, or the answer itself."""
    found = _TAGS.findall(answer)
    return found[-1][1].strip() if found else answer.strip()


def match_choice(answer: str, choices: Sequence[str]) -> int | None:
    """Index of the choice an answer names, or None when it names none or several.

    >>> match_choice("B", ["cat", "dog"]), match_choice("(A) cat", ["cat", "dog"])
    (1, 0)
    >>> match_choice("I think it is a dog barking.", ["cat", "dog"])
    1
    >>> match_choice("cat or dog", ["cat", "dog"]) is None
    True
    >>> match_choice("C", ["cat", "dog", "Cat."])   # a repeated choice: the first copy
    0
    """
    text = unwrap_tags(answer)
    if not text or not choices:
        return None
    letters = LETTERS[:len(choices)]
    first = first_copies(choices)
    bare = _BARE_LETTER.match(text)
    if bare:
        letter = bare.group(1).upper()
        return first[letters.index(letter)] if letter in letters else None
    lead = _LEADING_LETTER.match(text)
    if lead and lead.group(1) in letters:
        index = first[letters.index(lead.group(1))]
        rest = normalize(lead.group(2))
        named = {first[i] for i in _named_choices(rest, choices)}
        if not rest or not named or named == {index}:
            return index
        return None
    stated = {first[letters.index(m.upper())] for m in _STATED_LETTER.findall(text) if m.upper() in letters}
    named = {first[i] for i in _named_choices(normalize(text), choices)}
    if len(stated) == 1:
        index = stated.pop()
        return index if not named or named == {index} else None
    if stated:
        return None
    return named.pop() if len(named) == 1 else None


def first_copies(choices: Sequence[str]) -> list[int]:
    """For each choice, the index of the first choice with the same normalised text (itself if unique).

    Some benchmark items list one text twice (MMAU test-mini has such items); both copies are one answer.

    >>> first_copies(["a cat", "a dog", "A cat."])
    [0, 1, 0]
    """
    seen: dict[str, int] = {}
    return [seen.setdefault(normalize(c), i) for i, c in enumerate(choices)]


def _named_choices(text: str, choices: Sequence[str]) -> set[int]:
    """Indices of choices whose normalised text appears as whole words in `text`; a choice found
    only inside a longer named choice (e.g. "high" inside "higher pitch") does not count."""
    padded = f" {text} "
    found = {i: normalize(c) for i, c in enumerate(choices) if normalize(c) and f" {normalize(c)} " in padded}
    return {i for i, c in found.items()
            if not any(j != i and c != other and f" {c} " in f" {other} " for j, other in found.items())}


def extract_number(answer: str, *, allow_words: bool = True) -> float | None:
    """The last number in an answer (commas in digit groups ignored), as gsm8k-style scorers take.

    Spelled-out numbers below one hundred count too when `allow_words`.

    >>> extract_number("7 + 5 = 12"), extract_number("It is twenty-one."), extract_number("none")
    (12.0, 21.0, None)
    """
    text = unwrap_tags(answer).replace(",", "")
    best: tuple[int, float] | None = None
    for m in _NUMBER.finditer(text):
        best = (m.start(), float(m.group()))
    if allow_words:
        for m in _NUMBER_WORDS.finditer(text):
            if m.group(4):
                continue
            value = _TENS[m.group(1).lower()] + (_UNITS[m.group(2).lower()] if m.group(2) else 0) \
                if m.group(1) else _UNITS[m.group(3).lower()]
            if best is None or m.start() > best[0]:
                best = (m.start(), float(value))
    return None if best is None else best[1]
