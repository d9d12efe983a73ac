"""Spoken-MQA (arXiv 2505.15000): one file per split, `<split>.jsonl` (context, context_transcript,
instruction, answer), audio paths relative to the data directory."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from mgrd.scoring import extract_number, unwrap_tags
from mgrd.scoring.official import gsm8k_answer, gsm8k_match, gsm8k_reference
from mgrd.tasks.base import TaskItem
from mgrd.tasks.benchmarks.benchmark import Benchmark
from mgrd.tasks.benchmarks.hub import SCHEMAS, layout_of, read_snapshot
from mgrd.tasks.benchmarks.layout import (LayoutError, audio_path, check_audio_exists, read_records,
                                          require_fields, text_field)

SPLITS = ("short_digit", "long_digit", "single_step_reasoning", "multi_step_reasoning")
REASONING_SPLITS = ("single_step_reasoning", "multi_step_reasoning")
STEP_MQA_PROMPT = "Solve the given math question step by step."
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


class SpokenMQA(Benchmark):
    name = "spoken_mqa"
    version = "1"
    default_prompt = STEP_MQA_PROMPT
    breakdowns = ("category",)

    def official_grade(self, item: TaskItem, answer: str) -> float:
        """AudioBench's gsm8k rule on the answer text as written."""
        return float(gsm8k_match(answer, reference(item)))

    def grade(self, item: TaskItem, answer: str) -> float:
        """The boxed number, else the last number (words count), equal in value to the reference."""
        text = unwrap_tags(answer)
        boxed = _BOXED.findall(text)
        value = extract_number(boxed[-1] if boxed else text)
        target = _value(reference(item))
        return float(value is not None and target is not None and abs(value - target) <= 1e-6 * max(1.0, abs(target)))

    def difference(self, item: TaskItem, answer: str, official: float | None, robust: float | None) -> str:
        if official == robust:
            return ""
        got = gsm8k_answer(answer)
        if not got:
            return "no digits for the official rule (number words or empty)"
        return f"official rule takes {got!r} (first number after a trigger, else the last one)"


def reference(item: TaskItem) -> str:
    """The reference string as the official rule compares it (normalised on the reasoning splits)."""
    return gsm8k_reference(item.answer, normalise=item.category in REASONING_SPLITS)


def _value(text: str) -> float | None:
    try:
        return float(Fraction(text.replace(",", "")))
    except (ValueError, ZeroDivisionError):
        return None


def load_spoken_mqa(data_dir: str | Path, *, splits: tuple[str, ...] = SPLITS) -> SpokenMQA:
    """The splits found among `splits` (at least one must be there), in that order."""
    root = Path(data_dir)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown Spoken-MQA split(s) {', '.join(unknown)}; accepted: {', '.join(SPLITS)}")
    if (snap := read_snapshot(root, SCHEMAS["spoken_mqa"])) is not None:
        sources = {s: (snap.source, snap.splits[s], snap.audio_dir) for s in splits if s in snap.splits}
    else:
        found = {s: p for s in splits for p in (root / f"{s}.jsonl", root / s / "metadata.jsonl") if p.is_file()}
        sources = {s: (found[s], read_records(found[s]), found[s].parent) for s in splits if s in found}
    if not sources:
        raise LayoutError(f"Spoken-MQA: expected <split>.jsonl (or <split>/metadata.jsonl) in {root} for at least "
                          f"one of {', '.join(splits)}")
    items = []
    for split, (path, rows, base) in sources.items():
        require_fields(rows, ("context", "answer"), path)
        for i, row in enumerate(rows):
            context = row["context"]
            rel = context.get("path") if isinstance(context, dict) else context
            item_id = str(row.get("id", f"{split}-{i}"))
            items.append(TaskItem(id=item_id, question=text_field(row.get("context_transcript")),
                                  answer=text_field(row["answer"]),
                                  audio=(audio_path(base, rel, f"Spoken-MQA {item_id}"),), category=split,
                                  meta={"category": split, "instruction": text_field(row.get("instruction"))}))
    check_audio_exists((a for it in items for a in it.audio), "Spoken-MQA", f"paths relative to each split file")
    return SpokenMQA(items, source=str(root), layout=layout_of(snap))
