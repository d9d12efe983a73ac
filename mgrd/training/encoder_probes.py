"""Probing a pretrained encoder: its fact heads scored on held-out clips, per fact type, within stated tolerances.

The first rung of the perception ladder: what the frozen encoder knows before any decoder reads it.
A head `pitch:note 2` belongs to the fact type `pitch`; a prediction is right when it is within the
fact type's tolerance of the target (`PROBE_RULES`), and a class head is right when it names the
target's label exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# (kind, tolerance): "semitones" absolute on MIDI numbers, "relative" share of the target, "exact" classes.
PROBE_RULES: dict[str, tuple[str, float]] = {
    "pitch": ("semitones", 1.0),
    "tempo": ("relative", 0.08),
    "duration": ("relative", 0.15),
    "spectral centroid": ("relative", 0.15),
    "level change": ("absolute", 3.0),   # dB
}
DEFAULT_REGRESSION_RULE = ("relative", 0.15)


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


@torch.no_grad()
def probe_heads(model, heads, specs, records: Sequence[dict], device: torch.device, *, batch_size: int,
                read: Callable, features: Callable) -> dict:
    """{"by_type": {type: {"accuracy", "n"}}, "by_head": {head: {"accuracy", "n"}}, "clips": n} on `records`."""
    if not records:
        raise ValueError("probing needs at least one held-out clip")
    scored: dict[str, list[int]] = {}
    for k in range(0, len(records), batch_size):
        items = [read(r) for r in records[k:k + batch_size]]
        outputs = heads(features(model, [clip for _, clip in items], device))
        for name, marks in score_outputs(outputs, [r for r, _ in items], specs).items():
            scored.setdefault(name, []).extend(marks)
    by_type: dict[str, list[int]] = {}
    for name, marks in scored.items():
        by_type.setdefault(fact_type(name), []).extend(marks)
    summary = lambda marks: {"accuracy": sum(marks) / len(marks), "n": len(marks)}
    return {"by_type": {t: summary(m) for t, m in sorted(by_type.items())},
            "by_head": {h: summary(m) for h, m in sorted(scored.items())}, "clips": len(records)}
