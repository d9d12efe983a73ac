"""Evaluation inside the pipeline: held-out world items at several thinking budgets, grounding, self-cognition.

Greedy decoding with the native engine; one batch of prompts per budget. Budget 0 is `--no-think`
(the prompt holds the closed reasoning block), None is unlimited reasoning.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Sequence

from mgrd.data.records import Record
from mgrd.pipeline.data import absolute
from mgrd.scoring.grounding import verify_grounding
from mgrd.tasks.world import WorldTask, record_item
from mgrd.training.cognition import denies_hearing


def budget_key(budget: int | None) -> str:
    return "unlimited" if budget is None else str(budget)


def load_engine(model_dir: str | os.PathLike, *, max_batch_size: int = 32):
    """An Engine on the float32 checkpoint in `model_dir` (CPU or the default device)."""
    from mgrd.chat import Tokenizer
    from mgrd.inference import Engine
    from mgrd.model import load_pretrained
    from mgrd.runtime import resolve_device

    tokenizer = Tokenizer.from_dir(model_dir)
    model = load_pretrained(model_dir, device=resolve_device("auto"), tokenizer_special_ids=tokenizer.special)
    return Engine(model, tokenizer, max_batch_size=max_batch_size)


def build_prompts(engine, records: Sequence[Record], root: str | os.PathLike) -> list:
    """Engine prompts (audio decoded and featurised) of each record's user turn."""
    from mgrd.data.records import messages_for
    from mgrd.inference import build_prompt

    return [build_prompt(absolute(messages_for(r, "empty")[:1], root), engine.tokenizer) for r in records]


def generate(engine, records: Sequence[Record], root: str | os.PathLike, *, budget: int | None, max_tokens: int,
             temperature: float = 0.0, n: int = 1, seed: int = 0, prompts: Sequence | None = None) -> list[list]:
    """Completions of each record's user turn (`n` each) at a thinking budget; `prompts` reuses built ones."""
    from mgrd.inference import SamplingParams

    prompts = build_prompts(engine, records, root) if prompts is None else prompts
    params = [SamplingParams(n=n, max_tokens=max_tokens, temperature=temperature, thinking_budget=budget,
                             seed=(seed * 1_000_003 + i) % 2**62) for i in range(len(records))]
    return engine.generate(prompts, params)


def evaluate(engine, items: Sequence[Record], probes: Sequence[Record], root: str | os.PathLike, *,
             budgets: Sequence[int | None], max_tokens: int, temperature: float = 0.0, seed: int = 0,
             examples: int = 3, on_progress: Callable[[str], None] | None = None) -> dict:
    """Accuracy by budget and family, reasoning length, grounding and self-cognition error (summary schema).

    With temperature > 0 every item has its own seed, the same at every budget and every stage.
    """
    task = WorldTask([])
    tok = engine.tokenizer
    by_budget: dict[str, float] = {}
    family_scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    reasoning_tokens: list[int] = []
    grounding: list[float] = []
    shown: list[dict] = []
    think_budget = None if None in budgets else max(b for b in budgets if b is not None)
    prompts = build_prompts(engine, items, root)            # decoded once, sampled at every budget
    graded = [record_item(r, root) for r in items]
    for budget in budgets:
        if on_progress:
            on_progress(f"budget {budget_key(budget)}")
        gens = generate(engine, items, root, budget=budget, max_tokens=max_tokens, temperature=temperature,
                        seed=seed, prompts=prompts)
        scores = []
        for record, item, (g,) in zip(items, graded, gens):
            score = task.grade(item, g.answer) or 0.0
            scores.append(score)
            if budget == 0 or budget == think_budget:
                family_scores[record.family]["no_think" if budget == 0 else "think"].append(score)
            if budget == think_budget:
                reasoning = g.reasoning.strip()
                reasoning_tokens.append(len(tok.encode(reasoning)) if reasoning else 0)
                facts = [f.__dict__ for f in record.facts]
                grounding.append(verify_grounding(reasoning, facts).score if reasoning else 0.0)
                if len(shown) < examples:
                    shown.append({"id": record.id, "family": record.family, "question": record.question,
                                  "answer": record.answer, "reasoning": reasoning, "prediction": g.answer,
                                  "correct": bool(score >= 1.0)})
        by_budget[budget_key(budget)] = _mean(scores)
    result = {"accuracy": {"think": by_budget.get(budget_key(think_budget)), "no_think": by_budget.get("0")},
              "budgets": by_budget,
              "per_family": {f: {k: _mean(v) for k, v in d.items()} | {"items": len(d.get("think") or
                                                                                    d.get("no_think") or [])}
                             for f, d in sorted(family_scores.items())},
              "reasoning_tokens": _mean(reasoning_tokens), "grounding": _mean(grounding),
              "items": len(items), "examples": shown}
    result.update(self_cognition(engine, probes, root, max_tokens=max_tokens, temperature=temperature, seed=seed))
    return result


def self_cognition(engine, probes: Sequence[Record], root: str | os.PathLike, *, max_tokens: int,
                   temperature: float = 0.0, seed: int = 0) -> dict:
    """Share of cognition probes whose response (reasoning or answer) denies being able to hear."""
    if not probes:
        return {"self_cognition_error": None, "probes": 0}
    gens = generate(engine, probes, root, budget=None, max_tokens=max_tokens, temperature=temperature, seed=seed)
    denials = sum(denies_hearing(g.text) for (g,) in gens)
    return {"self_cognition_error": denials / len(probes), "probes": len(probes)}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def eval_sets(records: Sequence[Record], *, items: int, probes: int) -> tuple[list[Record], list[Record]]:
    """The first `items` audio items and `probes` self-cognition questions of a held-out split: probes on a
    clip ("Can you hear this?") and the questions about hearing that text corpora teach models to deny."""
    from mgrd.pipeline.data import is_audio_item, is_bait, is_probe

    return ([r for r in records if is_audio_item(r)][:items],
            [r for r in records if is_probe(r) or is_bait(r)][:probes])


__all__ = ["budget_key", "build_prompts", "eval_sets", "evaluate", "generate", "load_engine", "self_cognition"]
