"""A benchmark task: items loaded from disk, its official prompt, and two graders side by side.

`official_grade` applies the benchmark's own published rule to the answer text as the model wrote
it; `grade` is the robust rule (answer mapped to a choice or a number first, never a random
fallback). Judged benchmarks score through an LLM judge: `judge_prompt` builds its prompt and
`scores` turns its reply into the official and robust scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from mgrd.chat.choices import format_choices
from mgrd.tasks.base import Task, TaskItem


class Benchmark(Task):
    """Shared behaviour of the benchmark tasks; subclasses set the class attributes and graders."""

    default_prompt: str | None = "{question}"   # None: audio only, no text part
    audio_first: bool = False                   # Big Bench Audio puts its instruction after the audio
    sampling: Mapping = MappingProxyType({})   # the official client's per-benchmark sampling overrides
    breakdowns: tuple[str, ...] = ("category",)  # item fields the report breaks scores down by
    judged: bool = False                        # the official score needs an LLM judge
    score_scale: float = 100.0                  # multiplier to the paper's scale (WildSpeech 1–10 → ×10)
    judge_sampling: Mapping = MappingProxyType({"temperature": 0.0, "max_tokens": 16})

    def __init__(self, items: Sequence[TaskItem] = (), *, source: str = "", layout: str = "release files") -> None:
        self._items = tuple(items)
        self.source = source
        self.layout = layout   # which on-disk layout the items came from (release files or a hub snapshot)

    def items(self) -> Sequence[TaskItem]:
        return self._items

    def messages(self, item: TaskItem, *, prompt: str | None = None) -> list[dict]:
        """The official layout: text then audio (audio then text for Big Bench Audio); no text
        part when the prompt is empty (WildSpeech's audio-only queries)."""
        template = self.default_prompt if prompt is None else prompt
        audio = [{"type": "audio", "audio": a} for a in item.audio]
        if not template:
            return [{"role": "user", "content": audio}]
        text = [{"type": "text", "text": render_prompt(template, item)}]
        return [{"role": "user", "content": audio + text if self.audio_first else text + audio}]

    def official_grade(self, item: TaskItem, answer: str) -> float | None:
        return self.grade(item, answer)

    def judge_prompt(self, item: TaskItem, answer: str, template: str | None = None) -> str | None:
        """The judge's user message for this answer; None for benchmarks that are not judged."""
        return None

    def parse_judgement(self, reply: str) -> float | None:
        """The judge's score from its reply; None when the reply cannot be read."""
        return None

    def scores(self, item: TaskItem, answer: str, judgement: float | None = None) -> tuple[float | None, float | None]:
        """(official, robust). Judged benchmarks need `judgement` for the official score."""
        return self.official_grade(item, answer), self.grade(item, answer)

    def difference(self, item: TaskItem, answer: str, official: float | None, robust: float | None) -> str:
        """Why the official and robust scores of this answer differ ("" when they agree)."""
        return "" if official == robust else "the rules read this answer differently"


def render_prompt(template: str, item: TaskItem) -> str:
    """`template` with `{question}` and `{choices}` (`A. text\\n` lines) filled in."""
    try:
        return template.format(question=item.question, choices=format_choices(item.choices))
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"prompt template {template!r} is not valid: {e}; it may use {{question}} and "
                         "{choices} (write literal braces as {{ and }})") from None
