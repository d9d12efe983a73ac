"""A draft item: what a family makes from a seed, before it gets an id, audio files and messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mgrd.data.records import Fact
from mgrd.data.world import reasoning
from mgrd.scoring.answers import LETTERS


@dataclass
class Draft:
    """A question with its facts, clips (float32, 16 kHz) and the parts of its chains.

    `observations` are the perceived facts as clauses with values ("the first note is at 261.6 Hz");
    `steps` the inferences from them; `conclusion` names the answer. `given` writes the facts as a
    sentence, so a text counterpart can ask the same question without audio. `answer` is the choice
    letter for `choice` questions. `chain`, when set, is the grounded chain itself (for dialogues that
    are not about a clip).
    """

    kind: str
    question_type: str
    question: str
    answer: str
    answer_type: str
    facts: list[Fact]
    observations: list[str]
    steps: list[str]
    conclusion: str
    surrogate: str
    surrogate_answer: str
    clips: list[np.ndarray] = field(default_factory=list)
    choices: list[str] | None = None
    tolerance: float = 0.0
    labels: list[str] | None = None
    given: str = ""
    chain: str = ""
    meta: dict = field(default_factory=dict)


def multiple_choice(rng: np.random.Generator, correct: str, distractors: Sequence[str],
                    n: int | None = None) -> tuple[list[str], str]:
    """Choices with `correct` at a uniformly random position among `n` (default: all), and its letter."""
    pool = [d for d in dict.fromkeys(distractors) if d != correct]
    n = len(pool) + 1 if n is None else n
    if len(pool) < n - 1:
        raise ValueError(f"need {n - 1} distinct distractors for {correct!r}, got {pool}")
    chosen = [pool[i] for i in rng.permutation(len(pool))[:n - 1]]
    position = int(rng.integers(n))
    chosen.insert(position, correct)
    return chosen, LETTERS[position]


def surrogate_guess(rng: np.random.Generator, choices: Sequence[str]) -> tuple[str, str]:
    """A guess among the choices, uniform (right by chance only): its letter and text."""
    i = int(rng.integers(len(choices)))
    return LETTERS[i], choices[i]


def choice_draft(rng: np.random.Generator, *, kind: str, question_type: str, question: str, correct: str,
                 distractors: Sequence[str], facts: list[Fact], observations: list[str], steps: list[str],
                 topic: str, prior: str, caption: str, clips: list[np.ndarray], given: str = "",
                 n: int | None = None, meta: dict | None = None) -> Draft:
    """A multiple-choice draft: choices shuffled, the surrogate chain guessing without listening."""
    choices, letter = multiple_choice(rng, correct, distractors, n)
    guess_letter, guess_text = surrogate_guess(rng, choices)
    surrogate = reasoning.surrogate_chain(rng, topic=topic, prior=prior.format(guess=guess_text),
                                          caption=caption, conclusion=f"{guess_letter}. {guess_text}")
    return Draft(kind=kind, question_type=question_type, question=question, answer=letter, answer_type="choice",
                 facts=facts, observations=observations, steps=steps, conclusion=f"{letter}. {correct}",
                 surrogate=surrogate, surrogate_answer=guess_letter, clips=clips, choices=choices, given=given,
                 meta=dict(meta or {}))


def value_draft(rng: np.random.Generator, *, kind: str, question_type: str, question: str, answer: float | int,
                answer_type: str, facts: list[Fact], observations: list[str], steps: list[str], topic: str,
                prior_value: float | int, caption: str, clips: list[np.ndarray], given: str = "",
                tolerance: float = 0.0, unit: str = "", labels: list[str] | None = None,
                meta: dict | None = None) -> Draft:
    """An open draft (integer, number or label answer); the surrogate guesses a typical value."""
    text = _fmt(answer)
    guess = _fmt(prior_value)
    shown = f"{guess} {unit}".strip()
    surrogate = reasoning.surrogate_chain(rng, topic=topic, prior=shown, caption=caption, conclusion=guess)
    return Draft(kind=kind, question_type=question_type, question=question, answer=text, answer_type=answer_type,
                 facts=facts, observations=observations, steps=steps, conclusion=text, surrogate=surrogate,
                 surrogate_answer=guess, clips=clips, tolerance=tolerance, labels=labels, given=given,
                 meta=dict(meta or {}))


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    """One phrasing of several."""
    return options[int(rng.integers(len(options)))]


def ordinal(i: int) -> str:
    return ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")[i]


def _fmt(value: float | int | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
