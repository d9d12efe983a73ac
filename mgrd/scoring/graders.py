"""Grader primitives: the final answer of a completion scored 1.0 (right) or 0.0 (wrong).

Each takes only the answer part (reasoning already removed). An answer that names no choice, names
several, holds no number or is empty is wrong (0.0), as the benchmarks' own rules count it: it is
never left out of a denominator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mgrd.scoring.answers import LETTERS, extract_number, first_copies, match_choice, normalize, unwrap_tags

_DENIAL = re.compile(
    r"(\b(can ?not|can't|cannot|unable to|not able to|no ability to|don't have the ability to|do not have the "
    r"ability to)\b[^.]{0,40}\b(hear|listen|process (?:audio|sound)|audio|sound)|"
    r"\b(text-based|text-only) (?:ai|model|assistant)\b|\bas an? (?:large )?language model\b|"
    r"\bonly (?:read|see|process) text\b)", re.I)
_AFFIRM = re.compile(r"^\s*(yes|yeah|i can hear|i hear|i do hear|sure)\b", re.I)


def grade_choice(answer: str, choices: Sequence[str], correct: str | int) -> float:
    """1.0 when the answer names the correct choice (letter or text), else 0.0 (another, none or several).

    >>> grade_choice("B", ["major", "minor"], "B"), grade_choice("It is major.", ["major", "minor"], 1)
    (1.0, 0.0)
    """
    index = correct if isinstance(correct, int) else LETTERS.index(correct.strip().upper())
    if not 0 <= index < len(choices):
        raise ValueError(f"correct choice {correct!r} is outside the {len(choices)} choices")
    # Two copies of the correct text are one answer: match_choice names the first copy.
    return float(match_choice(answer, choices) == first_copies(choices)[index])


def grade_integer(answer: str, target: int) -> float:
    """1.0 when the last number in the answer equals `target` exactly.

    >>> grade_integer("There are 7 beeps.", 7), grade_integer("seven", 7), grade_integer("7.5", 7)
    (1.0, 1.0, 0.0)
    """
    value = extract_number(answer)
    return float(value is not None and value == target)


def grade_number(answer: str, target: float, rel_tol: float) -> float:
    """1.0 when the last number is within `rel_tol` (relative; absolute when target is 0) of `target`.

    >>> grade_number("about 126 BPM", 120, 0.08), grade_number("140", 120, 0.08)
    (1.0, 0.0)
    """
    if rel_tol < 0:
        raise ValueError(f"rel_tol must be >= 0, got {rel_tol}")
    value = extract_number(answer)
    if value is None:
        return 0.0
    return float(abs(value - target) <= rel_tol * (abs(target) if target else 1.0) + 1e-9)


def grade_label(answer: str, labels: Sequence[str], target: str) -> float:
    """1.0 when the answer names `target` and no other label of the closed set `labels`.

    >>> grade_label("It is rising.", ["rising", "falling"], "rising")
    1.0
    """
    if target not in labels:
        raise ValueError(f"target label {target!r} is not one of {list(labels)}")
    text = f" {normalize(unwrap_tags(answer))} "
    named = {label for label in labels if f" {normalize(label)} " in text}
    return float(named == {target})


def grade_cognition(answer: str, keywords: Sequence[str] = (), *, must_describe: bool = False) -> float:
    """Self-cognition: 0.0 when the answer denies hearing, 1.0 when it affirms hearing or names what is
    heard (any of `keywords`); with `must_describe`, only naming it counts. An empty answer is 0.0.

    >>> grade_cognition("Yes, I hear five beeps."), grade_cognition("As a language model I cannot hear audio.")
    (1.0, 0.0)
    """
    text = unwrap_tags(answer)
    if not text.strip():
        return 0.0
    if _DENIAL.search(text):
        return 0.0
    words = f" {normalize(text)} "
    described = any(f" {normalize(k)}" in words for k in keywords)
    if must_describe:
        return float(described)
    return float(described or bool(_AFFIRM.search(text)))
