"""Probing a pretrained encoder: its fact heads scored on held-out clips, per fact type, within stated tolerances.

The first rung of the perception ladder: what the frozen encoder knows before any decoder reads it.
A head `pitch:note 2` belongs to the fact type `pitch`; a prediction is right when it is within the
fact type's tolerance of the target (`PROBE_RULES`), and a class head is right when it names the
target's label exactly.

Facts about a sequence of events in time (how many events of a kind, which note plays k-th, the
pitch of the high and the low beeps, the melody's contour) are also read off the frame heads by
fixed rules (`read_frames`): onsets are the runs of frames whose strongest class is an event kind,
and a note is the strongest note of the piano roll's softmax ("no note" left out) between one note
onset and the next. For these facts (`frame_read`) the frame reading is the probe; a chord (one event
of simultaneous notes) and the properties of a whole clip are probed by the fact heads. Both
readings are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from mgrd.data.world.targets import FRAME_LABELS, FRAMES, LOWEST_NOTE, NOTES

# (kind, tolerance): "semitones" absolute on MIDI numbers, "relative" share of the target, "exact" classes.
PROBE_RULES: dict[str, tuple[str, float]] = {
    "pitch": ("semitones", 1.0),
    "tempo": ("relative", 0.08),
    "duration": ("relative", 0.15),
    "spectral centroid": ("relative", 0.15),
    "level change": ("absolute", 3.0),   # dB
}
DEFAULT_REGRESSION_RULE = ("relative", 0.15)
# Facts about a sequence of events in time, probed by reading the frame heads (read_frames): name prefixes.
FRAME_READ = ("count:", "contour:", "pitch:note ", "pitch:high beeps", "pitch:low beeps")
COUNTED = {"all beeps": ("high", "low"), "high beeps": ("high",), "low beeps": ("low",), "beat": ("beat",)}


def fact_type(head: str) -> str:
    """`count:high beeps` -> `count`."""
    return head.split(":", 1)[0]


def within(head: str, predicted: float, target: float) -> bool:
    """Whether a regressed value is right for its fact type.

    >>> within("pitch:note 1", 60.9, 60.0), within("pitch:note 1", 61.2, 60.0)
    (True, False)
    >>> within("tempo:beat", 129.0, 120.0)
    False
    """
    kind, tolerance = PROBE_RULES.get(fact_type(head), DEFAULT_REGRESSION_RULE)
    error = abs(predicted - target)
    if kind == "relative":
        return error <= tolerance * abs(target)
    return error <= tolerance


def score_outputs(outputs: dict[str, torch.Tensor], records: Sequence[dict], specs) -> dict[str, list[int]]:
    """Per head, 1/0 for each record that has the head's target (labels unknown to the head count as wrong)."""
    scored: dict[str, list[int]] = {}
    for s in specs:
        for i, r in enumerate(records):
            if s.name not in r["targets"]:
                continue
            value, out = r["targets"][s.name], outputs[s.name][i]
            if s.is_class:
                right = str(value) in s.labels and s.labels[int(out.argmax())] == str(value)
            else:
                right = within(s.name, float(out.squeeze()) * s.std + s.mean, float(value))
            scored.setdefault(s.name, []).append(int(right))
    return scored


def onset_runs(onsets: torch.Tensor) -> list[tuple[int, str]]:
    """(first frame, kind) of every run of frames whose strongest class is the same event kind.

    >>> x = torch.full((6, len(FRAME_LABELS)), -9.0); x[:, 0] = 0.0
    >>> x[1, 1] = x[2, 1] = x[4, 2] = 5.0
    >>> onset_runs(x)
    [(1, 'high'), (4, 'low')]
    """
    runs, previous = [], 0
    for t, c in enumerate(onsets.argmax(-1).tolist()):
        if c != 0 and c != previous:
            runs.append((t, FRAME_LABELS[c]))
        previous = c
    return runs


def contour_of(notes: list[int]) -> str | None:
    """rising / falling / arch / valley of a note sequence (None for any other shape)."""
    steps = [b - a for a, b in zip(notes, notes[1:])]
    if len(steps) < 1 or 0 in steps:
        return None
    signs = "".join("+" if d > 0 else "-" for d in steps)
    if "-" not in signs:
        return "rising"
    if "+" not in signs:
        return "falling"
    turns = sum(a != b for a, b in zip(signs, signs[1:]))
    return None if turns != 1 else ("arch" if signs[0] == "+" else "valley")


def read_frames(onsets: torch.Tensor, notes: torch.Tensor) -> dict[str, object]:
    """Facts of one clip read off its frame heads (`onsets` [T, kinds], `notes` [T, 1 + NOTE_RANGE] logits, valid
    frames only), named as the fact targets are: counts per kind, melody notes in order, the pitches of
    high and low beeps, a melody's contour. Pitches are MIDI numbers."""
    runs = onset_runs(onsets)
    facts: dict[str, object] = {f"count:{name}": sum(k in kinds for _, k in runs) for name, kinds in COUNTED.items()}
    probability = notes.softmax(-1)[:, 1:]   # of each note; class 0 is "no note"
    strongest = lambda frames: LOWEST_NOTE + int(probability[frames].mean(0).argmax())
    starts = [t for t, k in runs if k == "note"]
    melody = [strongest(slice(a, b)) for a, b in zip(starts, starts[1:] + [len(notes)])]
    facts |= {f"pitch:note {i + 1}": m for i, m in enumerate(melody)}
    if (shape := contour_of(melody)) is not None:
        facts["contour:melody"] = shape
    for kind in ("high", "low"):
        frames = [f for t, k in runs if k == kind for f in (t, t + 1) if f < len(notes)]   # a beep: 1-2 frames
        if frames:
            facts[f"pitch:{kind} beeps"] = strongest(frames)
    return facts


def frame_read(head: str) -> bool:
    """Whether a fact is probed by reading the frame heads (FRAME_READ) rather than by its fact head."""
    return head.startswith(FRAME_READ)


def score_frames(outputs: dict[str, torch.Tensor], records: Sequence[dict]) -> dict[str, list[int]]:
    """Per fact read off the frames (`frame_read`), 1/0 for each record that has it: the frame reading against
    the target (a fact the reading does not find counts as wrong)."""
    scored: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        valid = torch.isfinite(outputs[FRAMES][i, :, 0])
        read = read_frames(outputs[FRAMES][i][valid], outputs[NOTES][i][valid])
        for name, value in r["targets"].items():
            if not frame_read(name):
                continue
            got = read.get(name)
            if got is None:
                right = False
            elif isinstance(value, float):
                right = within(name, float(got), value)
            else:
                right = str(got) == str(value)
            scored.setdefault(name, []).append(int(right))
    return scored


def _summary(scored: dict[str, list[int]]) -> dict:
    by_type: dict[str, list[int]] = {}
    for name, marks in scored.items():
        by_type.setdefault(fact_type(name), []).extend(marks)
    summary = lambda marks: {"accuracy": sum(marks) / len(marks), "n": len(marks)}
    return {"by_type": {t: summary(m) for t, m in sorted(by_type.items())},
            "by_head": {h: summary(m) for h, m in sorted(scored.items())}}


@torch.no_grad()
def probe_heads(model, heads, specs, records: Sequence[dict], device: torch.device, *, batch_size: int,
                read: Callable, features: Callable) -> dict:
    """Probe accuracy on `records`: {"by_type", "by_head"} (the probe of each fact: the frame reading where
    `frame_read`, its fact head otherwise), {"heads": ..., "frames": ...} (both readings), "clips"."""
    if not records:
        raise ValueError("probing needs at least one held-out clip")
    by_heads: dict[str, list[int]] = {}
    by_frames: dict[str, list[int]] = {}
    for k in range(0, len(records), batch_size):
        items = [read(r) for r in records[k:k + batch_size]]
        outputs = heads(features(model, [clip for _, clip in items], device))
        targets = [r for r, _ in items]
        for name, marks in score_outputs(outputs, targets, specs).items():
            by_heads.setdefault(name, []).extend(marks)
        for name, marks in score_frames(outputs, targets).items():
            by_frames.setdefault(name, []).extend(marks)
    chosen = {h: m for h, m in by_heads.items() if not frame_read(h)} | by_frames
    return {**_summary(chosen), "heads": _summary(by_heads), "frames": _summary(by_frames), "clips": len(records)}
