"""From records (the world's or a user's) to the trainers' JSONL: pretraining text, encoder targets, SFT mixes, RL prompts, DPO pairs.

Every file is written atomically; audio paths are absolute (the trainers resolve relative ones
against the JSONL file's directory, and these files live in the run directory, not the dataset's).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from mgrd.data.records import Record, answer_text, assistant_text, build_messages, messages_for
from mgrd.data.world.targets import fact_targets  # noqa: F401  (re-exported: encoder targets live with the world)
from mgrd.io import write_jsonl_atomic
from mgrd.scoring.grounding import verify_grounding


def is_audio_item(record: Record) -> bool:
    """A question about audio (the world's sound, music, speech and composite items; any user record with
    audio), not a self-cognition probe."""
    return bool(record.audio) and record.family != "cognition"


def is_probe(record: Record) -> bool:
    """A self-cognition probe on a clip (hear / describe), not a bait dialogue."""
    return record.family == "cognition" and not record.meta.get("bait") and bool(record.audio)


def is_bait(record: Record) -> bool:
    return record.family == "cognition" and bool(record.meta.get("bait"))


def is_text_item(record: Record) -> bool:
    """A question without audio (the world's text items; user records with no audio)."""
    return not record.audio and record.family != "cognition"


def has_chain(record: Record, style: str = "grounded") -> bool:
    """Whether the record carries a reasoning chain in `style` (every world record does)."""
    return bool(record.reasoning.get(style, "").strip())


def absolute(messages: list[dict], root: str | os.PathLike) -> list[dict]:
    """Messages with audio parts resolved against the dataset directory."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = [dict(p, audio=str(Path(root) / p["audio"])) if p.get("type") == "audio" else dict(p)
                       for p in content]
        out.append({**m, "content": content})
    return out


def sft_record(record: Record, root: str | os.PathLike, style: str) -> dict:
    """An SFT record: the record's conversation with its reasoning in `style`."""
    return {"id": record.id, "messages": absolute(messages_for(record, style), root)}


def description_record(record: Record, root: str | os.PathLike) -> dict | None:
    """"Describe what you hear" answered with the acoustic statements of the grounded chain (no reasoning).

    The stand-in for audio captioning in audio-text pretraining; None when the chain states nothing
    acoustic.
    """
    g = verify_grounding(record.reasoning["grounded"], [f.__dict__ for f in record.facts])
    said = [s for s, kind in g.statements if kind == "acoustic" and any(c.text in s for c in g.claims)]
    if not said:
        return None
    answer = " ".join(s.strip() for s in said)
    messages = build_messages("Describe what you hear.", None, record.audio, assistant_text("", answer))
    return {"id": f"{record.id}:describe", "messages": absolute(messages, root)}


def prompt_record(record: Record, root: str | os.PathLike) -> dict:
    """An RL prompt: the user turn, the reference answer and the world record for the grader."""
    world = record.to_dict()
    world["messages"] = []
    return {"id": record.id, "messages": absolute(messages_for(record, "empty")[:1], root),
            "answer": record.answer, "choices": record.choices, "world": world}


def world_grader(answer: str, rl_record: dict) -> float | None:
    """The world's grader for an RL record made by `prompt_record` (answer type aware)."""
    from mgrd.tasks.world import WorldTask, record_item

    record = Record.from_dict(rl_record["world"])
    return WorldTask([]).grade(record_item(record, "."), answer)


def encoder_records(records: Iterable[Record], root: str | os.PathLike) -> list[dict]:
    """One record per clip of each audio item and probe: `{"audio": path, "targets": {...}}`."""
    out = []
    for r in records:
        if not (is_audio_item(r) or is_probe(r)):
            continue
        for i, path in enumerate(r.audio):
            targets = fact_targets(r, i)
            if targets:
                out.append({"audio": str(Path(root) / path), "targets": targets})
    return out


def preference_record(record: Record, root: str | os.PathLike, rejected: str) -> dict:
    """A DPO record: the probe's prompt, the correct self-cognition answer, and a denial."""
    from mgrd.training.cognition import preference_pair

    chosen = assistant_text(record.reasoning["grounded"], answer_text(record))
    return {"id": record.id, **preference_pair(absolute(messages_for(record, "empty")[:1], root), chosen, rejected)}


def take(records: Sequence[Record], n: int, offset: int = 0) -> list[Record]:
    """`n` records from position `offset`, wrapping around (so iterations see different questions)."""
    if not records or n <= 0:
        return []
    return [records[(offset + i) % len(records)] for i in range(min(n, len(records)))]


def write(path: Path, records: Sequence[dict]) -> str:
    """Write a JSONL file atomically; refuse an empty one (a stage with no data is a recipe error)."""
    if not records:
        raise ValueError(f"{path.name}: no records to write; the data split is too small for this recipe (or lacks what this stage needs)")
    write_jsonl_atomic(path, list(records))
    return str(path)
