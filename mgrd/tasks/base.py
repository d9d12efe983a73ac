"""A task: its items and its grader. World tasks, benchmark tasks and training data all speak it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mgrd.chat.choices import format_choices


@dataclass(frozen=True)
class TaskItem:
    """One question: its text, its audio files in prompt order, the reference answer and choices.

    `meta` carries what a grader or a report needs beyond that (facts, sub-category, source ids).
    """

    id: str
    question: str
    answer: str
    audio: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    category: str = ""
    meta: Mapping = field(default_factory=dict)


class Task(ABC):
    """Items plus a grader. `version` changes whenever items, prompts or grading change."""

    name: str = ""
    version: str = "1"

    @abstractmethod
    def items(self) -> Sequence[TaskItem]:
        """All items, in a stable order."""

    def messages(self, item: TaskItem, *, prompt: str | None = None) -> list[dict]:
        """Chat messages asking `item`: the question text, then its audio parts.

        `prompt` is a format string with `{question}` (and `{choices}` for multiple choice) that
        overrides the task's default wording.
        """
        text = (prompt or "{question}").format(question=item.question, choices=format_choices(item.choices))
        content = [{"type": "text", "text": text}] + [{"type": "audio", "audio": a} for a in item.audio]
        return [{"role": "user", "content": content}]

    def official_grade(self, item: TaskItem, answer: str) -> float | None:
        """Score under the task's own published rule, applied to the answer as written; tasks
        without one (the world's) use `grade`."""
        return self.grade(item, answer)

    @abstractmethod
    def grade(self, item: TaskItem, answer: str) -> float | None:
        """Score of the final answer text (reasoning already removed): 1.0 right, 0.0 wrong,
        a value in between for graded tasks. An answer that names no choice or holds no number is
        wrong (0.0); None only where the rule cannot score at all (an open-ended task's judge)."""
