"""The paper's claims checked on a run's summary: each a paired difference with its 95 % interval, n and verdict.

A claim compares two measurements of the same held-out items (two thinking budgets of one stage, or
one measure at two stages), paired by item id. Its verdict follows the interval alone
(`mgrd.evaluation.statistics.interval_verdict`): "reproduces" when it excludes 0 in the paper's
direction, "opposite" when it excludes 0 the other way, "not significant" when it holds 0, and
"not measured" when the summary lacks the per-item numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mgrd.evaluation.statistics import NOT_MEASURED, interval_verdict, paired_difference

UNLIMITED = "unlimited"


def paired_by_id(ids_a: Sequence[str], a: Sequence[float | None], ids_b: Sequence[str],
                 b: Sequence[float | None]) -> tuple[list[float], list[float]]:
    """The values of the items present (not None) on both sides, in the order of `ids_a`.

    >>> paired_by_id(["x", "y", "z"], [1, None, 0], ["z", "x", "y"], [1, 0, 1])
    ([1, 0], [0, 1])
    """
    if len(ids_a) != len(a) or len(ids_b) != len(b):
        raise ValueError("each list of per-item values needs one id per value")
    other = {i: v for i, v in zip(ids_b, b)}
    pairs = [(v, other[i]) for i, v in zip(ids_a, a) if v is not None and other.get(i) is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def claim(name: str, direction: str, a_label: str, b_label: str, a: Sequence[float], b: Sequence[float],
          *, stage: str, note: str = "") -> dict:
    """One claim `a − b` (direction ">" or "<") over paired values: means, diff, ci95, n, verdict."""
    stats = paired_difference(a, b)
    return {"name": name, "stage": stage, "direction": direction, "a_label": a_label, "b_label": b_label,
            "a": sum(a) / len(a) if a else None, "b": sum(b) / len(b) if b else None, **stats,
            "verdict": interval_verdict(stats["ci95"], direction), "note": note}


def _not_measured(name: str, direction: str, a_label: str, b_label: str, *, stage: str, why: str) -> dict:
    return {"name": name, "stage": stage, "direction": direction, "a_label": a_label, "b_label": b_label,
            "a": None, "b": None, "diff": None, "ci95": None, "n": 0, "verdict": NOT_MEASURED, "note": why}


def _per_item(e: Mapping, label: str) -> tuple[list, list] | None:
    per_item = e.get("per_item") if isinstance(e, Mapping) else None
    if not isinstance(per_item, Mapping) or label not in (per_item.get("scores") or {}):
        return None
    return list(per_item.get("ids") or []), list(per_item["scores"][label])


def _think_label(e: Mapping) -> str:
    if isinstance(e.get("think_budget"), str):
        return e["think_budget"]
    labels = list(e.get("budgets") or {})
    finite = [int(x) for x in labels if str(x).isdigit()]
    return UNLIMITED if UNLIMITED in labels or not finite else str(max(finite))


def _budget_claim(name: str, stage: str, e: Mapping, high: str, low: str, note: str = "") -> dict:
    a_label, b_label = f"accuracy at budget {high}", f"accuracy at budget {low}"
    hi, lo = _per_item(e, high), _per_item(e, low)
    if hi is None or lo is None:
        return _not_measured(name, ">", a_label, b_label, stage=stage,
                             why=f"no per-item scores at budgets {high} and {low} at stage {stage}")
    return claim(name, ">", a_label, b_label, *paired_by_id(*hi, *lo), stage=stage, note=note)


def _stage_claim(name: str, direction: str, label: str, evals: Mapping[str, Mapping], block: str,
                 values: str) -> dict:
    """`evals[stage][block][values]` per item at the last evaluated stage (a) against the first (b)."""
    (first, e0), (last, e1) = next(iter(evals.items())), list(evals.items())[-1]
    stage = f"{first} → {last}"
    sides = []
    for e in (e1, e0):
        per = e.get(block) if isinstance(e, Mapping) else None
        sides.append((list(per.get("ids") or []), list(per.get(values) or [])) if isinstance(per, Mapping) else None)
    if len(evals) < 2 or None in sides:
        return _not_measured(name, direction, f"{label} at {last}", f"{label} at {first}", stage=stage,
                             why=f"needs per-item {label} at two evaluated stages")
    return claim(name, direction, f"{label} at {last}", f"{label} at {first}", *paired_by_id(*sides[0], *sides[1]),
                 stage=stage)


def claims(summary: Mapping[str, Any]) -> list[dict]:
    """The paper's claims on `summary` (the pipeline's summary.json), in report order:
    think > no-think at each evaluated stage; accuracy rising with budget (unlimited vs 0, last stage);
    grounding rising (last stage vs first, paired by item); self-cognition error falling (likewise)."""
    evals = {k: v for k, v in (summary.get("evals") or {}).items() if isinstance(v, Mapping)}
    out = []
    for stage, e in evals.items():
        note = "" if stage != next(iter(evals)) else ("before the MGRD iterations; the paper expects think > "
                                                      "no-think only after them")
        out.append(_budget_claim("think > no-think", stage, e, _think_label(e), "0", note))
    if evals:
        last, e = list(evals.items())[-1]
        same = "the same comparison as think > no-think here" if _think_label(e) == UNLIMITED else ""
        out.append(_budget_claim("accuracy rises with thinking budget", last, e, UNLIMITED, "0", same))
        out.append(_stage_claim("grounding rises over MGRD", ">", "grounding", evals, "per_item", "grounding"))
        out.append(_stage_claim("self-cognition error falls", "<", "self-cognition error (held-out probes, "
                                "independent grader)", evals, "per_heldout_probe", "error"))
        out.append(_stage_claim("self-cognition error falls (filter rule)", "<", "self-cognition error (DPO filter "
                                "rule)", evals, "per_probe", "denied"))
    for stage, e in evals.items():
        text = e.get("text_control")
        if isinstance(text, Mapping) and text.get("per_item"):
            out.append(_budget_claim("text: think > no-think", stage, text, UNLIMITED, "0",
                                     "the text counterparts: reasoning without perception"))
    return out


METRICS = [
    "- **accuracy**: the share of held-out audio items whose final answer the world's grader marks right "
    "(an answer that matches no choice is wrong); *think* is at the stage's largest thinking budget, "
    "*no-think* at budget 0 (the reasoning block closed in the prompt).",
    "- **grounding**: the grounding verifier's score of an item's reasoning chain (the share of its statements "
    "about what was heard, with every checkable acoustic claim matching the item's facts); 0 for an empty chain; "
    "averaged over items at the think budget.",
    "- **self-cognition error (independent)**: on held-out probes whose wording the training never saw (open "
    "questions on a clip, questions about hearing without audio), the share of replies that deny hearing or do "
    "not engage with the audio (name nothing heard), by a grader that is not the DPO filter's rule. "
    "**Filter rule**: the share of replies to the world's own probes that the DPO filter's rule (`denies_hearing`) "
    "flags; it shaped the training, so it is shown beside the independent measure, not instead of it.",
    "- **perception ladder**: accuracy per fact type of the encoder's probe heads, of the decoder's descriptions "
    "and of the reasoning chains' claims, each checked against the items' facts; **text control**: think vs "
    "no-think on the text counterparts (the facts written out in the question).",
    "- **reasoning tokens**: the mean length of the reasoning at the think budget, in tokens.",
    "- **kept chains**: self-distilled chains that passed every filter (correct answer, grounded, coherent, no "
    "denial of hearing) and went into the iteration's SFT.",
    "- **intervals**: 95 %; for one measurement, Wilson (0/1 scores) or Student t (graded); for a claim, the "
    "paired interval of the per-item differences, mean ± t·s/√n over the n items measured on both sides "
    "(the same items, each with its own sampling seed at every budget and stage).",
    "- **verdict**: *reproduces* when the claim's interval excludes 0 in the paper's direction, *opposite* when "
    "it excludes 0 the other way, *not significant* when it holds 0, *not measured* without per-item numbers.",
]


def value(claim: Mapping, x: Any, *, diff: bool = False) -> str:
    """A claim's number `x` as text: grounding in score units, accuracies and error rates in % (diffs in points)."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return "–"
    if claim.get("name", "").startswith("grounding"):
        return format(x, "+.2f" if diff else ".2f")
    return f"{100 * x:+.1f} pp" if diff else f"{100 * x:.1f} %"


def interval(claim: Mapping) -> str:
    """The claim's interval in the units of `value` ("[+1.2, +9.8]"), "[no interval]" without one."""
    ci = claim.get("ci95")
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return "[no interval]"
    if claim.get("name", "").startswith("grounding"):
        return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def claim_line(claim: Mapping) -> str:
    """"- name (stage): a vs b: diff [lo, hi], n = N, **verdict**" (accuracies in points)."""
    head = f"- {claim.get('name', '?')} ({claim.get('stage', '?')}; paper: a {claim.get('direction', '?')} b): "
    if claim.get("diff") is None:
        return head + f"**{claim.get('verdict', NOT_MEASURED)}** ({claim.get('note') or 'no data'})."
    note = f" ({claim['note']})" if claim.get("note") else ""
    return (head + f"a = {claim.get('a_label')} {value(claim, claim.get('a'))}, b = {claim.get('b_label')} "
            f"{value(claim, claim.get('b'))}: {value(claim, claim.get('diff'), diff=True)} {interval(claim)}, "
            f"n = {claim.get('n')}, **{claim.get('verdict')}**{note}.")


__all__ = ["METRICS", "claim", "claim_line", "claims", "interval", "paired_by_id", "value"]
