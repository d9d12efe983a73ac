"""Self-cognition on held-out probes: the independent grader's error beside the DPO filter's rate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from mgrd.data.records import Record
from mgrd.scoring.cognition import CognitionVerdict, grade_self_cognition, judge_self_cognition
from mgrd.scoring.denial import denies_hearing

REASONS = ("engaged", "not engaged", "denied")


def grade_probe(reply: str, probe: Record, judge: Callable[[str], str] | None = None) -> CognitionVerdict:
    """The verdict on one reply to one probe: the judge's where one is given, the rule's otherwise."""
    facts = [f.__dict__ for f in probe.facts]
    has_audio = bool(probe.audio)
    if judge is not None:
        return judge_self_cognition(judge, probe.question, reply, facts=facts, has_audio=has_audio)
    return grade_self_cognition(reply, facts=facts, has_audio=has_audio)


def independent_self_cognition(replies: Sequence[str], probes: Sequence[Record], *,
                               judge: Callable[[str], str] | None = None) -> dict:
    """The two self-cognition measures on the replies (reasoning and answer) to held-out probes, in order.

    `self_cognition_error_independent`: the share of probes whose reply does not engage with the audio
    or denies hearing (mgrd.scoring.cognition); `self_cognition_error_filter`: the share the DPO filter's
    rule (`denies_hearing`) flags, on the same replies. Both None when there are no probes. Also the
    number of probes, the count of each reason (`engaged`, `not engaged`, `denied`), the independent
    error of clip probes and of hearing questions without audio, and which grader was used.
    """
    if len(replies) != len(probes):
        raise ValueError(f"{len(replies)} replies for {len(probes)} probes; give one reply per probe, in order")
    verdicts = [grade_probe(reply, probe, judge) for reply, probe in zip(replies, probes)]
    reasons = Counter(v.reason for v in verdicts)
    by_kind: dict[str, list[bool]] = {"clip": [], "question": []}
    for verdict, probe in zip(verdicts, probes):
        by_kind["clip" if probe.audio else "question"].append(verdict.error)
    return {"self_cognition_error_independent": _share([v.error for v in verdicts]),
            "self_cognition_error_filter": _share([denies_hearing(r) for r in replies]),
            "heldout_probes": len(probes),
            "self_cognition_reasons": {r: reasons.get(r, 0) for r in REASONS},
            "self_cognition_error_by_probe": {k: _share(v) for k, v in by_kind.items()},
            "self_cognition_grader": "judge" if judge is not None else "rule"}


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


__all__ = ["REASONS", "grade_probe", "independent_self_cognition"]
