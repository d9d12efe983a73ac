"""World tasks: a generated split of the synthetic world as items, each graded by its own answer type."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mgrd.data.dataset import read_split
from mgrd.data.records import Record, user_text
from mgrd.scoring.graders import grade_choice, grade_cognition, grade_integer, grade_label, grade_number
from mgrd.tasks.base import Task, TaskItem


def record_item(record: Record, root: str | os.PathLike) -> TaskItem:
    """A task item of a record; audio paths resolved against the dataset directory `root`."""
    meta = {"family": record.family, "kind": record.kind, "question_type": record.question_type,
            "answer_type": record.answer_type, "tolerance": record.tolerance, "labels": record.labels,
            "keywords": record.meta.get("keywords", []), "facts": [f.__dict__ for f in record.facts],
            "reasoning": record.reasoning}
    return TaskItem(id=record.id, question=record.question, answer=record.answer,
                    audio=tuple(str(Path(root) / a) for a in record.audio), choices=tuple(record.choices or ()),
                    category=f"{record.family}/{record.kind}", meta=meta)


class WorldTask(Task):
    """Items of the world; `grade` picks the grader by the item's answer type."""

    version = "1"

    def __init__(self, items: Sequence[TaskItem], name: str = "world"):
        self.name = name
        self._items = list(items)

    def items(self) -> Sequence[TaskItem]:
        return self._items

    def messages(self, item: TaskItem, *, prompt: str | None = None) -> list[dict]:
        """The user turn as in the dataset's records (question, choice lines, audio parts)."""
        if prompt is not None:
            return super().messages(item, prompt=prompt)
        content = [{"type": "text", "text": user_text(item.question, item.choices)}]
        return [{"role": "user", "content": content + [{"type": "audio", "audio": a} for a in item.audio]}]

    def grade(self, item: TaskItem, answer: str) -> float:
        kind = item.meta.get("answer_type", "choice")
        if kind == "choice":
            return grade_choice(answer, item.choices, item.answer)
        if kind == "integer":
            return grade_integer(answer, int(float(item.answer)))
        if kind == "number":
            return grade_number(answer, float(item.answer), float(item.meta.get("tolerance", 0.0)))
        if kind == "label":
            return grade_label(answer, item.meta["labels"], item.answer)
        if kind == "cognition":
            return grade_cognition(answer, item.meta.get("keywords", ()),
                                   must_describe=item.meta.get("kind") == "describe_probe")
        raise ValueError(f"item {item.id}: unknown answer type {kind!r}")


def load_world_task(data_dir: str | os.PathLike, split: str = "heldout",
                    families: Sequence[str] | None = None) -> Task:
    """The complete `split` of the dataset in `data_dir` as a task, optionally only some families."""
    records = list(read_split(data_dir, split))
    if families is not None:
        present = sorted({r.family for r in records})
        unknown = [f for f in families if f not in present]
        if unknown:
            raise ValueError(f"families {unknown} are not in {data_dir}/{split}; present: {', '.join(present)}")
        records = [r for r in records if r.family in families]
    return WorldTask([record_item(r, data_dir) for r in records], name=f"world-{split}")
