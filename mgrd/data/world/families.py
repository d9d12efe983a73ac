"""The world's families, and how one (family, seed) becomes one record and its clips."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mgrd.data.dataset import audio_relpath
from mgrd.data.records import REASONING_STYLES, Record, messages_for
from mgrd.data.world import cognition, composite, music, reasoning, sound, speech, text
from mgrd.data.world.draft import Draft

FAMILIES = ("sound", "music", "speech", "composite", "cognition", "text")
NEEDS_VOICE = ("speech",)
# Share of each family in a mixed dataset (renormalised over the families asked for).
WEIGHTS = {"sound": 0.2, "music": 0.2, "speech": 0.12, "composite": 0.12, "cognition": 0.06, "text": 0.3}
_FAMILY_CODE = {f: i + 1 for i, f in enumerate(FAMILIES)}
_KINDS: dict[str, dict[str, Callable[[np.random.Generator], Draft]]] = {
    "sound": sound.KINDS, "music": music.KINDS, "speech": speech.KINDS, "composite": composite.KINDS,
    "cognition": cognition.KINDS, "text": text.KINDS}


def check_families(families: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The families asked for, validated, in canonical order; None means all."""
    if families is None:
        return FAMILIES
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown families {unknown or '(none given)'}; accepted: {', '.join(FAMILIES)}")
    return tuple(f for f in FAMILIES if f in families)


def kinds(family: str) -> tuple[str, ...]:
    """The question kinds of a family (cognition also makes `cognition_bait`)."""
    return tuple(_KINDS[family]) + (("cognition_bait",) if family == "cognition" else ())


def make_draft(family: str, seed: int, *, bait_share: float = 0.25) -> Draft:
    """The draft of (family, seed): a pure function of both (and of `bait_share` for cognition)."""
    if family not in _KINDS:
        raise ValueError(f"unknown family {family!r}; accepted: {', '.join(FAMILIES)}")
    rng = np.random.default_rng([_FAMILY_CODE[family], seed])
    if family == "cognition" and rng.random() < bait_share:
        return cognition.bait(rng)
    if family == "text":
        names = list(text.WEIGHTS)
        kind = names[int(rng.choice(len(names), p=[text.WEIGHTS[k] for k in names]))]
    else:
        names = list(_KINDS[family])
        kind = names[int(rng.integers(len(names)))]
    return _KINDS[family][kind](rng)


def make_record(family: str, seed: int, item_id: str, *, split: str = "", bait_share: float = 0.25
                ) -> tuple[Record, list[np.ndarray]]:
    """The record of (family, seed) under `item_id`, and its clips in the order of `record.audio`."""
    draft = make_draft(family, seed, bait_share=bait_share)
    chain_rng = np.random.default_rng([_FAMILY_CODE[family], seed, 1])
    if draft.chain:
        grounded = draft.chain
    elif draft.clips:
        grounded = reasoning.heard_chain(chain_rng, draft.observations, draft.steps, draft.conclusion)
    else:
        grounded = reasoning.text_chain(chain_rng, draft.observations, draft.steps, draft.conclusion)
    audio = [audio_relpath(item_id, i) for i in range(len(draft.clips))]
    chains = dict(zip(REASONING_STYLES, (grounded, draft.surrogate, "")))
    record = Record(id=item_id, family=family, question_type=draft.question_type, question=draft.question,
                    choices=draft.choices, answer=draft.answer, facts=draft.facts, audio=audio, reasoning=chains,
                    messages=[], kind=draft.kind, answer_type=draft.answer_type, tolerance=draft.tolerance,
                    labels=draft.labels, surrogate_answer=draft.surrogate_answer, split=split, seed=seed,
                    duration=round(sum(len(c) for c in draft.clips) / 16000, 4), meta=draft.meta)
    # Bait dialogues store the denial: that is the error the self-cognition stage has to correct.
    style = "surrogate" if draft.meta.get("bait") else "grounded"
    return _with_messages(record, messages_for(record, style)), draft.clips


def _with_messages(record: Record, messages: list[dict]) -> Record:
    data = record.to_dict()
    data["messages"] = messages
    return Record.from_dict(data)
