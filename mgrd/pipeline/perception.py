"""The perception ladder and the text control of an evaluation stage: where perception is lost, and what thinking wins.

Rungs, each measured on held-out items: (a) the frozen encoder's probe accuracy per fact type
(written by the encoder stage, `summary.perception.encoder`); (b) the decoder's verbalisation, its
answer to "Describe what you hear." without thinking, checked claim by claim against the item's
facts by the event-bound verifier; (c) the claim accuracy of its reasoning chains at the think
budget. The text control asks the held-out text counterparts (the same questions with the facts
written out) with and without thinking, so the reasoning machinery is measured apart from hearing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mgrd.data.records import Record
from mgrd.inference.backend import Backend
from mgrd.scoring.perception import claim_accuracy_by_type
from mgrd.tasks.world import WorldTask, record_item

DESCRIBE = "Describe what you hear."
LADDER = (("encoder", "encoder probes (frozen encoder: frame reading or fact heads)"),
          ("verbalisation", "decoder: \"Describe what you hear.\", no thinking"),
          ("chains", "reasoning chains at the think budget"))


def described(record: Record) -> Record:
    """The item's clips with the question "Describe what you hear." (an open answer; its facts stay)."""
    data = record.to_dict()
    data.update(id=f"{record.id}:describe", question=DESCRIBE, choices=None, answer="", answer_type="cognition",
                kind="describe_probe", messages=[])
    return Record.from_dict(data)


def verbalisation(run, backend: Backend, items: Sequence[Record], root: str | os.PathLike, out: Path, *,
                  max_tokens: int, temperature: float, on_progress: Callable[[str], None] | None) -> dict:
    """Rung (b): claim accuracy per fact type of the descriptions of `items` (every claim of a description
    counts: a description is about the sound throughout)."""
    if not items:
        return {}
    asked = [described(r) for r in items]
    task = WorldTask([record_item(r, root) for r in asked], name="describe")
    _, rows = run(task, backend, (0,), out, max_tokens=max_tokens, temperature=temperature, on_progress=on_progress)
    texts = [(rows.get((r.id, "0")) or {}).get("answer", "") for r in asked]
    return claim_accuracy_by_type(texts, [[f.__dict__ for f in r.facts] for r in items], statements="any")


def chain_claims(items: Sequence[Record], chains: Sequence[str]) -> dict:
    """Rung (c): claim accuracy per fact type of the reasoning chains (acoustic statements, as grounding counts)."""
    return claim_accuracy_by_type(chains, [[f.__dict__ for f in r.facts] for r in items])


def text_counterparts(records: Sequence[Record], n: int) -> list[Record]:
    """The first `n` held-out text items that restate an audio item with its facts written out."""
    return [r for r in records if r.family == "text" and r.meta.get("counterpart_of")][:n]


def text_control(run, backend: Backend, items: Sequence[Record], root: str | os.PathLike, out: Path, *,
                 max_tokens: int, temperature: float, on_progress: Callable[[str], None] | None) -> dict:
    """Think (unlimited) vs no-think accuracy on text counterparts, per item for pairing."""
    if not items:
        return {}
    task = WorldTask([record_item(r, root) for r in items], name="text")
    _, rows = run(task, backend, (0, None), out, max_tokens=max_tokens, temperature=temperature,
                  on_progress=on_progress)

    def score(item: Record, label: str) -> float | None:
        row = rows.get((item.id, label))
        return None if row is None or row["status"] != "ok" else float(row["official"] or 0.0)

    scores = {label: [score(r, label) for r in items] for label in ("0", "unlimited")}
    return {"items": len(items), "accuracy": {"think": _mean(scores["unlimited"]), "no_think": _mean(scores["0"])},
            "per_item": {"ids": [r.id for r in items], "scores": scores}}


def _percent(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def ladder_section(summary: Mapping) -> list[str]:
    """The report's perception ladder: accuracy per fact type at each rung and stage."""
    rungs: dict[str, dict[str, Mapping]] = {}
    encoder = (summary.get("perception") or {}).get("encoder")
    if isinstance(encoder, Mapping):
        stage = str(encoder.get("stage", "encoder_pretrain"))
        rungs["encoder"] = {stage: encoder.get("by_type") or {}}
        for reading in ("frames", "heads"):   # both readings, where the probes report them
            if isinstance(encoder.get(reading), Mapping):
                rungs["encoder"][f"{stage}, {reading} only"] = encoder[reading].get("by_type") or {}
    for stage, e in (summary.get("evals") or {}).items():
        ladder = e.get("ladder") if isinstance(e, Mapping) else None
        for rung in ("verbalisation", "chains"):
            if isinstance(ladder, Mapping) and isinstance(ladder.get(rung), Mapping):
                rungs.setdefault(rung, {})[stage] = ladder[rung].get("by_type") or {}
    if not rungs:
        return []
    types = sorted({t for stages in rungs.values() for by_type in stages.values() for t in by_type})
    lines = ["## Perception ladder (held-out; accuracy per fact type, n in brackets)", "",
             "Each rung is checked against the items' facts: the encoder within the fact type's tolerance "
             "(pitch ±1 semitone, tempo ±8 %, durations ±15 %, classes exact; counts, melody and beep pitches and "
             "contours read off its frame heads, the rest off its fact heads); descriptions and chains claim by "
             "claim by the event-bound verifier (claims it cannot bind to an event are not counted).", "",
             "| rung | stage | " + " | ".join(types) + " |", "|---|---|" + "---|" * len(types)]
    names = dict(LADDER)
    for rung, stages in rungs.items():
        for stage, by_type in stages.items():
            cells = [f"{100 * by_type[t]['accuracy']:.0f} % ({by_type[t]['n']})" if t in by_type else "–" for t in types]
            lines.append(f"| {names[rung]} | {stage} | " + " | ".join(cells) + " |")
    return lines + [""]


def text_control_section(summary: Mapping) -> list[str]:
    """The report's text control: think vs no-think on the text counterparts, by stage."""
    rows = [(stage, e["text_control"]) for stage, e in (summary.get("evals") or {}).items()
            if isinstance(e, Mapping) and isinstance(e.get("text_control"), Mapping) and e["text_control"]]
    if not rows:
        return []
    claims = {c.get("stage"): c for c in summary.get("claims") or () if c.get("name") == "text: think > no-think"}
    lines = ["## Text control: the same questions with the facts written out", "",
             "| stage | think | no-think | think − no-think [95 % CI], verdict | items |", "|---|---|---|---|---|"]
    for stage, t in rows:
        c = claims.get(stage) or {}
        ci = c.get("ci95")
        paired = (f"{100 * c['diff']:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}], {c.get('verdict')}"
                  if c.get("diff") is not None and ci else "–")
        acc = t["accuracy"]
        lines.append(f"| {stage} | {_percent(acc['think'])} | {_percent(acc['no_think'])} | {paired} | {t['items']} |")
    return lines + [""]


__all__ = ["DESCRIBE", "chain_claims", "described", "ladder_section", "text_control", "text_control_section",
           "text_counterparts", "verbalisation"]
