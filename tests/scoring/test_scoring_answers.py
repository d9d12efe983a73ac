"""Robust answer mapping on hand-written answers."""

import pytest

from mgrd.scoring import extract_number, match_choice

CHOICES = ["Man", "Woman", "Child", "Robot"]


@pytest.mark.parametrize("answer,expected", [
    ("B", 1), ("b", 1), ("(C)", 2), ("D.", 3), ("A)", 0),
    ("B. Woman", 1), ("(B) Woman", 1), ("B: woman", 1),
    ("The speaker is a woman.", 1), ("<RESPONSE>C</RESPONSE>", 2),
    ("The answer is (D).", 3), ("Answer: A", 0), ("I choose option B because of the pitch.", 1),
    ("It is a man or a woman", None),     # two choices named: ambiguous
    ("B. Man", None),                      # letter and text disagree
    ("E", None),                           # no such choice
    ("", None), ("I cannot tell.", None),
])
def test_match_choice(answer, expected):
    assert match_choice(answer, CHOICES) == expected


def test_choice_inside_longer_choice_is_not_double_counted():
    choices = ["higher", "lower", "higher and louder"]
    assert match_choice("It is higher and louder.", choices) == 2
    assert match_choice("higher", choices) == 0


@pytest.mark.parametrize("answer,expected", [
    ("12", 12.0), ("7 + 5 = 12", 12.0), ("The total is 1,250 apples.", 1250.0), ("-3.5", -3.5),
    ("It is twelve.", 12.0), ("twenty-one", 21.0), ("3 then four", 4.0), ("no number", None),
])
def test_extract_number(answer, expected):
    assert extract_number(answer) == expected
