"""Encoder-pretraining targets of the world's clips, and clips made on demand from a (family, seed) reference.

Every item is a pure function of (family, seed), so an encoder can train on as many distinct clips
as it takes steps: a reference `{"world": {"family": "music", "seed": 123}, "clip": 0}` becomes the
clip and its targets when it is read, instead of cycling a few thousand stored items.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from mgrd.data.records import Record
from mgrd.data.world import synth

# Families whose clips are synthesised with numpy alone (fast enough to make while training);
# speech needs the neural voice and cognition probes reuse the other families' scenes.
STREAMED_FAMILIES = ("sound", "music", "composite")
# Frame-level onset classes: at which adaptor frame (80 ms: 100 mel frames/s, strided 8x) an event of each
# kind starts. Dense targets make counting a local problem instead of a clip-level regression.
FRAME_LABELS = ("none", "high", "low", "note", "beat", "sound", "chord")
FRAME_SECONDS = 0.08
FRAMES = "frames:onset"     # the target key of a clip's onsets: [[frame index, label], ...]
# Frame-level notes (a piano roll): which MIDI notes sound in each frame, so that "the third note" is
# read where it plays rather than regressed from the whole clip. [[first frame, end frame, MIDI], ...]
NOTES = "frames:notes"
LOWEST_NOTE, NOTE_RANGE = 33, 60   # MIDI 33 (A1) .. 92 (G#6): every note the world plays
FIRST_STREAM_INDEX = 1 << 20   # streamed items of a split never take the seed of a stored item
COMPOSITE_CLIPS = 2            # every composite kind plays two clips (checked when a clip is made)


def fact_targets(record: Record, clip: int) -> dict[str, Any]:
    """Encoder-pretraining targets of clip `clip` (0-based): one head per (fact, event), shared by all kinds.

    Pitches are regressed in semitones (MIDI numbers, the scale pitch arithmetic is done on),
    other numbers as they are; counts and labels are classes.
    """
    prefix = f"clip {clip + 1}, "
    many = len(record.audio) > 1
    targets: dict[str, Any] = {}
    for f in record.facts:
        event = f.event
        if many:
            if not event.startswith(prefix):
                continue
            event = event[len(prefix):]
        if f.name == "interval" or " to " in event:
            continue   # a relation between notes, learned from the two pitches
        value = f.value
        if f.name == "pitch" and isinstance(value, (int, float)) and value > 0:
            value = round(69.0 + 12.0 * math.log2(float(value) / 440.0), 3)
        elif f.name == "count" and isinstance(value, (int, float)):
            value = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        targets[f"{f.name}:{event}"] = value
    return targets


def stream_references(families: Iterable[str], *, split: str, seed: int, n: int, offset: int = 0) -> list[dict]:
    """`n` references to distinct items of `split` (families in turn), one per clip of each item.

    Item k of a family uses the split's seed `item_seed(split, seed, FIRST_STREAM_INDEX + offset + k)`,
    so streamed items never repeat a stored one and never leave their split.
    """
    from mgrd.data.world.generate import item_seed

    families = list(families)
    unknown = [f for f in families if f not in STREAMED_FAMILIES]
    if unknown or not families:
        raise ValueError(f"families {unknown or '(none)'} cannot be streamed; accepted: {', '.join(STREAMED_FAMILIES)}")
    refs: list[dict] = []
    k = 0
    while len(refs) < n:
        family = families[k % len(families)]
        s = item_seed(split, seed, FIRST_STREAM_INDEX + offset + k // len(families))
        clips = COMPOSITE_CLIPS if family == "composite" else 1
        refs.extend({"world": {"family": family, "seed": s}, "clip": i} for i in range(clips))
        k += 1
    return refs[:n]


def streamed_clip(reference: dict) -> tuple[dict[str, Any], np.ndarray]:
    """(targets, 16 kHz waveform) of a reference made by `stream_references`."""
    from mgrd.data.world.families import make_record

    world = reference.get("world")
    if not isinstance(world, dict) or world.get("family") not in STREAMED_FAMILIES or \
            not isinstance(world.get("seed"), int):
        raise ValueError(f"a streamed clip needs 'world': {{'family': one of {', '.join(STREAMED_FAMILIES)}, "
                         f"'seed': int}}, got {world!r}")
    clip = int(reference.get("clip", 0))
    with synth.recording() as tape:
        record, clips = make_record(world["family"], world["seed"], f"stream-{world['seed']}")
    if not 0 <= clip < len(clips):
        raise ValueError(f"item {world} has {len(clips)} clips; clip {clip} does not exist")
    targets = fact_targets(record, clip)
    events = clip_events(tape, [len(c) for c in clips])[clip]
    if events is not None:
        targets |= frame_targets(events)
    return targets, clips[clip]


def clip_events(tape: list[tuple[int, list[synth.Event]]], lengths: list[int]) -> list[list[synth.Event] | None]:
    """Per clip, the labelled events of the mix recorded while making it (None: not made by a mix).

    Mixes are matched to clips in order by length (a clip is its mix, scaled); a clip not made by a
    mix (speech) has none.
    """
    out: list[list | None] = []
    k = 0
    for n in lengths:
        while k < len(tape) and tape[k][0] != n:
            k += 1
        if k == len(tape):
            out.append(None)
            continue
        out.append(tape[k][1])
        k += 1
    return out


def frame_targets(events: list[synth.Event]) -> dict[str, list]:
    """The dense targets of a clip's events: onsets `[[frame, label], ...]` and notes `[[first, end, MIDI], ...]`.

    An event sounds in the frames it covers at least half of (at least its onset frame).
    """
    targets: dict[str, list] = {}
    if events:
        targets[FRAMES] = [[int(e.onset / FRAME_SECONDS), e.label] for e in events]
    notes = []
    for e in events:
        first = int(round(e.onset / FRAME_SECONDS))
        end = max(int(round((e.onset + e.seconds) / FRAME_SECONDS)), first + 1)
        notes.extend([first, end, m] for m in e.notes if LOWEST_NOTE <= m < LOWEST_NOTE + NOTE_RANGE)
    targets[NOTES] = notes
    return targets
