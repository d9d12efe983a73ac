"""Official and robust rules on hand-written predictions: bare letter, "B. text", text in a sentence,
chain of thought, empty; MMSU's letter rule; gsm8k numbers; judge reply parsers."""

import pytest

from mgrd.scoring.judge_prompts import bba_judge_prompt, parse_score, parse_verdict, wildspeech_judge_prompt
from mgrd.scoring.official import gsm8k_answer, gsm8k_match, gsm8k_reference, mmsu_letter, string_match
from mgrd.scoring.official.gsm8k import delete_extra_zero
from mgrd.tasks.base import TaskItem
from mgrd.tasks.benchmarks import MMAU, MMSU, BigBenchAudio, SpokenMQA, WildSpeech
from mgrd.tasks.benchmarks.bigbench_audio import rule_answer

CHOICES = ["A motorsport racing event", "a man speaking", "a woman singing", "silence"]
ITEM = TaskItem(id="x", question="What is heard?", answer="a woman singing", choices=tuple(CHOICES))


@pytest.mark.parametrize("prediction, official, robust", [
    ("a woman singing", 1.0, 1.0),                           # plain choice text
    ("C", 0.0, 1.0),                                         # bare letter: official needs the text
    ("C. a woman singing", 1.0, 1.0),                        # "c" is not a word of another choice
    ("A. A motorsport racing event", 0.0, 0.0),
    ("I think it is a woman singing in a hall.", 1.0, 1.0),  # "a" is shared with the answer, so allowed
    ("It is a woman singing, not a man speaking.", 0.0, 0.0),  # names two choices
    ("", 0.0, 0.0),
    ("<answer>a woman singing</answer>", 1.0, 1.0),
    ("The answer is C, a woman singing, not silence", 0.0, 0.0),
])
def test_mmau_official_and_robust(prediction, official, robust):
    task = MMAU()
    assert task.official_grade(ITEM, prediction) == official
    assert task.grade(ITEM, prediction) == robust


def test_letter_prefix_collides_with_another_choice():
    # "A. man speaking": the letter "a" is a word of another choice, so the official rule fails it
    item = TaskItem(id="y", question="q", answer="man speaking", choices=("man speaking", "A motorsport racing event"))
    task = MMAU()
    assert task.official_grade(item, "A. man speaking") == 0.0
    assert task.grade(item, "A. man speaking") == 1.0
    assert task.difference(item, "A. man speaking", 0.0, 1.0).startswith("letter prefix")
    assert task.official_grade(item, "man speaking") == 1.0


def test_string_match_rules_by_hand():
    choices = ["high pitch", "low pitch"]
    assert string_match("high pitch", "The pitch is high", choices)          # word set contains the answer
    assert not string_match("high pitch", "high, not low", choices)          # "low" belongs to another choice
    assert not string_match("high pitch", "high", choices)                   # "pitch" missing
    assert string_match("high pitch", "HIGH PITCH!", choices)               # case and punctuation ignored
    assert not string_match("high pitch", "", choices)
    cot = "Let me compare high pitch and low pitch. The tone is high pitch."
    assert not string_match("high pitch", cot, choices)                      # a chain of thought names both


def test_difference_reasons():
    task = MMAU()
    assert task.difference(ITEM, "C", 0.0, 1.0).startswith("bare letter")
    assert task.difference(ITEM, "a woman singing", 1.0, 1.0) == ""


def test_mmsu_letter_rule():
    assert mmsu_letter("B") == "B"
    assert mmsu_letter("The answer is C.") == "C"
    assert mmsu_letter("Based on the audio, happy") == "B"   # the official rule's quirk, faithfully
    assert mmsu_letter("happy") is None
    assert mmsu_letter("") is None
    assert mmsu_letter("\nD\n") == "D"
    item = TaskItem(id="s", question="q", answer="sad", choices=("happy", "sad", "angry", "calm"))
    task = MMSU()
    assert task.official_grade(item, "B") == 1.0
    assert task.official_grade(item, "Based on the tone, the speaker is happy") == 1.0  # reads 'B'
    assert task.grade(item, "Based on the tone, the speaker is happy") == 0.0
    assert task.official_grade(item, "sad") == 0.0 and task.grade(item, "sad") == 1.0
    assert "empty" in task.difference(item, "", 0.0, 1.0) or task.difference(item, "", 0.0, 0.0) == ""


def test_gsm8k_rule():
    assert delete_extra_zero("12.50") == "12.5"
    assert delete_extra_zero("3.0") == "3"
    assert delete_extra_zero("1/2") == "0.5"
    assert delete_extra_zero("x") == "x"
    assert gsm8k_answer("3 + 4 = 7") == "7"                                  # last number without a trigger
    assert gsm8k_answer("The answer is 7, since 3 + 4 = 7 and not 8") == "7"  # first number after the trigger
    assert gsm8k_answer("Total: 1,250.00 dollars") == "1250"
    assert gsm8k_answer("seven") == ""
    assert gsm8k_answer("\\boxed{12} so 13 is wrong") == "13"                 # no boxed parsing, as AudioBench
    assert gsm8k_reference("He has 5.\n#### 1,250.0", normalise=True) == "1250"
    assert gsm8k_reference("7.0", normalise=False) == "7.0"
    assert gsm8k_match("so 7", "7") and not gsm8k_match("so 7", "7.0")


def test_spoken_mqa_rules_side_by_side():
    task = SpokenMQA()
    item = TaskItem(id="d", question="", answer="7", category="short_digit")
    assert (task.official_grade(item, "seven"), task.grade(item, "seven")) == (0.0, 1.0)
    assert (task.official_grade(item, "\\boxed{7} (check: 3+4)"), task.grade(item, "\\boxed{7} (check: 3+4)")) == (0.0, 1.0)
    reasoning = TaskItem(id="q", question="", answer="#### 12.0", category="multi_step_reasoning")
    assert task.official_grade(reasoning, "The answer is 12.") == 1.0


def test_bigbench_rule_and_judge():
    task = BigBenchAudio()
    yes = TaskItem(id="1", question="", answer="Yes", category="navigate")
    assert task.grade(yes, "yes") == 1.0 and task.grade(yes, "Yes, you return.") == 1.0
    assert task.grade(yes, "yes or no") == 0.0            # two answers: wrong
    assert rule_answer("invalid", "valid") == "invalid"
    count = TaskItem(id="2", question="", answer="7", category="object_counting")
    assert task.grade(count, "seven") == 1.0 and task.grade(count, "7 or 8") == 0.0
    assert task.scores(yes, "no", judgement=1.0) == (1.0, 0.0)
    assert task.scores(yes, "no") == (None, 0.0)          # no judge: official unscored
    prompt = task.judge_prompt(yes, "yes")
    assert "The OFFICIAL ANSWER:Yes" in prompt and "BEGIN CANDIDATE ANSWER TO ASSESS\n\nyes\n" in prompt
    assert prompt.endswith("Reply only with CORRECT or INCORRECT.")


def test_judge_parsers():
    assert parse_verdict("CORRECT") == 1.0 and parse_verdict("incorrect.") == 0.0 and parse_verdict("") is None
    assert parse_score("Strengths: ...\nScore: 8") == 8.0
    assert parse_score("Score: [3]") == 3.0 and parse_score("Score: 11") is None and parse_score("eight") is None
    assert "- is funny" in wildspeech_judge_prompt("q", "r", "- is funny")
    assert bba_judge_prompt("", "7", "seven").count("seven") == 2  # the template's example and the candidate


def test_wildspeech_language_rule():
    pytest.importorskip("langdetect", reason="the `langdetect` extra is not installed")
    task = WildSpeech()
    item = TaskItem(id="w", question="Tell me a joke", answer="", meta={"checklist": "- funny"})
    assert task.scores(item, "Why did the chicken cross the road?", 8.0) == (8.0, 8.0)
    assert task.scores(item, "为什么鸡要过马路？", 8.0) == (1.0, 8.0)
    assert task.scores(item, "anything", None) == (None, None)


def test_wildspeech_language_rule_is_langdetect(monkeypatch):
    """A French reply is written in Latin letters, yet langdetect (the benchmark's rule) reads it as French."""
    pytest.importorskip("langdetect", reason="the `langdetect` extra is not installed")
    task = WildSpeech()
    item = TaskItem(id="w", question="Tell me a joke", answer="", meta={"checklist": "- funny"})
    french = "Pourquoi le poulet a-t-il traversé la route ? Pour aller de l'autre côté."
    assert task.scores(item, french, 7.0) == (1.0, 7.0)
    assert "langdetect" in task.difference(item, french, 1.0, 7.0)
    assert task.scores(item, "Sure! Here is a short joke for you about a cat and a dog.", 7.0) == (7.0, 7.0)
    assert task.scores(item, "42", 5.0) == (5.0, 5.0)          # no letters: nothing to detect, not penalised
    monkeypatch.setitem(__import__("sys").modules, "langdetect", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'mgrd\[langdetect\]'"):
        task.scores(item, french, 7.0)
