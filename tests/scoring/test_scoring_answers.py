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


# MMAU test-mini has items whose choice list repeats one text; both copies are one answer.
REPEATED = ["first shows frustration, then relief", "second speaker laughs", "first shows frustration, then relief",
            "nobody speaks"]


@pytest.mark.parametrize("answer,expected", [
    ("<RESPONSE>A. first shows frustration, then relief</RESPONSE>", 0),
    ("C. first shows frustration, then relief", 0),     # the letter of the second copy
    ("A", 0), ("C", 0), ("(C)", 0),
    ("The first shows frustration, then relief.", 0),   # the text names both copies: one answer
    ("The answer is A or C.", 0),                       # both letters of the one text
    ("B. second speaker laughs", 1),
    ("A or B", None),                                   # two different answers stay ambiguous
    ("A. second speaker laughs", None),                 # letter and text still disagree
])
def test_repeated_choice_text_is_one_answer(answer, expected):
    assert match_choice(answer, REPEATED) == expected


def test_repeated_choice_graded_right_by_either_copy():
    from mgrd.scoring.graders import grade_choice
    from mgrd.scoring.official import string_match
    from mgrd.tasks.base import TaskItem
    from mgrd.tasks.benchmarks import MMAU

    assert grade_choice("C", REPEATED, "A") == 1.0 and grade_choice("A", REPEATED, 2) == 1.0
    assert grade_choice("B", REPEATED, "C") == 0.0
    item = TaskItem(id="d", question="q", answer=REPEATED[0], choices=tuple(REPEATED))
    task = MMAU()
    for answer in ("<RESPONSE>A. first shows frustration, then relief</RESPONSE>", "C", "A"):
        assert task.grade(item, answer) == 1.0, answer
    # the official word-set rule already ignores a choice whose words equal the answer's
    assert string_match(REPEATED[0], "first shows frustration, then relief", REPEATED)
    assert task.official_grade(item, "first shows frustration, then relief") == 1.0
