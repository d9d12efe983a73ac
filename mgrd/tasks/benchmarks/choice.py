"""Multiple-choice benchmarks (MMAU, MMAR, MMSU): the official letter-list prompt and both graders."""

from __future__ import annotations

from mgrd.scoring import LETTERS, match_choice, unwrap_tags
from mgrd.scoring.official import string_match
from mgrd.tasks.base import TaskItem
from mgrd.tasks.benchmarks.benchmark import Benchmark

# Step-Audio-R1's client prompt for MMAU, MMSU and MMAR (space before the first newline included).
STEP_CHOICE_PROMPT = ("{question}\nPlease choose the answer from the following options, do not provide any "
                      "additional explanations or content: \n{choices}")


class ChoiceBenchmark(Benchmark):
    """Robust rule: the answer mapped to one choice (bare letter, "B. text", text in tags or in a
    sentence; two choices named = wrong), then compared exactly with the reference text."""

    default_prompt = STEP_CHOICE_PROMPT

    def grade(self, item: TaskItem, answer: str) -> float:
        index = match_choice(answer, item.choices)
        return float(index is not None and item.choices[index] == item.answer)

    def official_grade(self, item: TaskItem, answer: str) -> float:
        """MMAU/MMAR `string_match` on the answer text exactly as written."""
        return float(string_match(item.answer, answer, item.choices))

    def difference(self, item: TaskItem, answer: str, official: float | None, robust: float | None) -> str:
        if official == robust:
            return ""
        text = unwrap_tags(answer).strip()
        if not text:
            return "empty answer"
        index = match_choice(answer, item.choices)
        if robust and not official:
            letters = LETTERS[:len(item.choices)]
            if len(text.rstrip(".):]")) <= 3 and text.strip("([ .):]").upper() in letters:
                return "bare letter: the official rule needs the choice text"
            if text[:1].upper() in letters and text[1:2] in ".):":
                return "letter prefix: the letter is also a word of another choice"
            if text != answer.strip():
                return "answer inside tags: the official rule reads the tags' words too"
            return "the answer also uses words of another choice"
        if index is None:
            return "official rule accepts an answer that names no single choice"
        return "official rule accepts an answer the robust rule maps to another choice"

