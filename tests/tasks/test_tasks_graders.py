"""Grader primitives on hand-written final answers."""

from __future__ import annotations

import pytest

from mgrd.scoring.graders import grade_choice, grade_cognition, grade_integer, grade_label, grade_number

CHOICES = ["rising", "falling", "steady", "swelling"]


@pytest.mark.parametrize("answer,expected", [
    ("B", 1.0), ("(B)", 1.0), ("B. falling", 1.0), ("The answer is B.", 1.0), ("It is falling.", 1.0),
    ("<answer>B</answer>", 1.0), ("A", 0.0), ("rising", 0.0), ("A. falling", 0.0), ("rising or falling", 0.0),
    ("", 0.0), ("no idea", 0.0),   # naming no choice, or two, is wrong: never left out
])
def test_choice(answer, expected):
    assert grade_choice(answer, CHOICES, "B") == expected
    assert grade_choice(answer, CHOICES, 1) == expected


def test_choice_rejects_a_reference_outside_the_choices():
    with pytest.raises(ValueError, match="outside the 4 choices"):
        grade_choice("A", CHOICES, 7)


@pytest.mark.parametrize("answer,expected", [
    ("12", 1.0), ("There are 12 beeps.", 1.0), ("twelve", 1.0), ("7 + 5 = 12", 1.0), ("1,2", 1.0),
    ("13", 0.0), ("12.5", 0.0), ("I count 12, no wait, 11", 0.0), ("many", 0.0), ("", 0.0),
])
def test_integer(answer, expected):
    assert grade_integer(answer, 12) == expected


@pytest.mark.parametrize("answer,expected", [
    ("120", 1.0), ("about 129 BPM", 1.0), ("110.5", 1.0), ("130 BPM", 0.0), ("60", 0.0), ("fast", 0.0),
])
def test_number_with_tolerance(answer, expected):
    assert grade_number(answer, 120.0, 0.08) == expected


def test_number_tolerance_is_absolute_at_zero_and_never_negative():
    assert grade_number("0.05", 0.0, 0.1) == 1.0 and grade_number("0.2", 0.0, 0.1) == 0.0
    with pytest.raises(ValueError, match="rel_tol must be >= 0"):
        grade_number("1", 1.0, -0.1)


@pytest.mark.parametrize("answer,expected", [
    ("rising", 1.0), ("The loudness is Rising!", 1.0), ("falling", 0.0), ("rising then falling", 0.0), ("", 0.0),
])
def test_label(answer, expected):
    assert grade_label(answer, CHOICES, "rising") == expected


def test_label_must_be_in_the_set():
    with pytest.raises(ValueError, match="not one of"):
        grade_label("x", CHOICES, "flat")


@pytest.mark.parametrize("answer,keywords,describe,expected", [
    ("Yes, I can hear it: five beeps.", ["beep"], False, 1.0),
    ("Yes.", ["beep"], False, 1.0),
    ("Yes.", ["beep"], True, 0.0),
    ("I hear a drum beat at 100 BPM.", ["drum", "beat"], True, 1.0),
    ("I'm sorry, but I can't hear audio.", ["beep"], False, 0.0),
    ("As a language model I cannot listen to sound files, but it may contain beeps.", ["beep"], True, 0.0),
    ("Unfortunately I have no ability to hear audio.", [], False, 0.0),
    ("The weather is nice.", ["chord"], False, 0.0),
    ("", ["chord"], False, 0.0),
])
def test_cognition(answer, keywords, describe, expected):
    assert grade_cognition(answer, keywords, must_describe=describe) == expected
