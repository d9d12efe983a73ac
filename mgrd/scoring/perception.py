"""The perception ladder's verbal rungs: how often the acoustic claims of a text are true, per fact type.

A model's answer to "describe what you hear" (its verbalisation) and its reasoning chains are
checked claim by claim by the grounding verifier against the item's facts; each checked claim
counts for its fact type (`pitch`, `count`, `tempo`, `duration`, `interval`, `chord`, `trend`, ...).
Claims the verifier cannot check (no fact of that quantity, or no event named) are counted apart,
never as right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mgrd.scoring.grounding import LABEL_GROUPS, Claim, verify_grounding


def claim_type(claim: Claim) -> str:
    """The fact type a claim speaks of: its quantity, or for a label the group it belongs to."""
    if claim.quantity != "label":
        return claim.quantity
    if claim.fact is not None and claim.fact.get("name"):
        return str(claim.fact["name"])
    groups = [g for g, labels in LABEL_GROUPS.items() if claim.value in labels]
    return groups[0] if len(groups) == 1 else "label"


def claim_accuracy_by_type(texts: Iterable[str], facts: Iterable[Sequence[Mapping]], *,
                           statements: str = "acoustic") -> dict:
    """{"by_type": {type: {"accuracy", "n"}}, "checked", "unverifiable", "texts"} over pairs of text and facts.

    `statements="acoustic"` counts claims made in acoustic statements only (as the grounding score
    does); `"any"` counts every claim, for descriptions, which are all about the sound.

    >>> facts = [{"name": "count", "value": 3, "unit": "beeps", "event": "all beeps"}]
    >>> claim_accuracy_by_type(["I hear 3 beeps."], [facts])["by_type"]
    {'count': {'accuracy': 1.0, 'n': 1}}
    """
    if statements not in ("acoustic", "any"):
        raise ValueError(f"statements={statements!r}; accepted: acoustic, any")
    marks: dict[str, list[int]] = {}
    unverifiable = texts_seen = 0
    for text, item_facts in zip(texts, facts, strict=True):
        texts_seen += 1
        for claim in verify_grounding(text, list(item_facts)).claims:
            if statements == "acoustic" and claim.statement != "acoustic":
                continue
            if claim.matched is None:
                unverifiable += 1
                continue
            marks.setdefault(claim_type(claim), []).append(int(claim.matched))
    by_type = {t: {"accuracy": sum(m) / len(m), "n": len(m)} for t, m in sorted(marks.items())}
    return {"by_type": by_type, "checked": sum(len(m) for m in marks.values()), "unverifiable": unverifiable,
            "texts": texts_seen}
