"""Self-distillation (paper eq. 4) and the filters that keep only grounded, coherent, correct chains.

The current model samples K chains per question of a task; each chain passes through the filters
in order (correctness, acoustic grounding, logical coherence, self-cognition) and the kept ones
become SFT data. Every filter reports how many chains it saw, kept, and why it dropped the others.

A task here is anything with `messages(item)` and `grade(item, answer)` over `mgrd.tasks.TaskItem`s
(a `mgrd.tasks.Task` is one); an item's acoustic facts, when known, are `item.meta["facts"]`
(`{name, value, unit, event}`), and the grounding filter checks the chain's claims against them.
Without facts it falls back on the share of acoustic statements (mgrd.scoring.grounding) and, when
given, an LLM judge of grounding.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mgrd.inference.backend import Backend, GenerationResult, sample
from mgrd.remote import JudgeFailed, RetryPolicy
from mgrd.scoring import extract_number, match_choice, normalize
from mgrd.scoring.grounding import verify_grounding
from mgrd.tasks.base import TaskItem
from mgrd.training.cognition import CognitionJudge, is_denial, yes_no_endpoint

# The closing line of a chain: "So the answer is X.", "Therefore the answer is X.", "Hence: X."
_CONCLUSION = re.compile(r"(?:answer is|hence:)\s*(.+?)\s*\.?\s*$", re.IGNORECASE)
# A judge that gave no reply after its retries: the chain is not vouched for, and the report counts it.
JUDGE_FAILED = "judge failed"


class ChainTask(Protocol):
    """What self-distillation needs of a task: the prompt of an item and the grader of its answers."""

    def messages(self, item: TaskItem) -> list[dict]: ...

    def grade(self, item: TaskItem, answer: str) -> float | None: ...


def item_facts(item: TaskItem) -> list[dict]:
    """The item's known acoustic facts (empty when the data has none)."""
    return [dict(f) for f in item.meta.get("facts") or ()]


@dataclass(frozen=True)
class Chain:
    """One sampled completion of a task item: its reasoning and final answer."""

    item: TaskItem
    sample: int
    reasoning: str
    answer: str
    well_formed: bool

    @property
    def completion(self) -> str:
        """The assistant turn in the trained format."""
        return f"<think>\n{self.reasoning}\n</think>\n{self.answer}"


@dataclass
class FilterReport:
    """What one filter did: chains seen, kept, and the count of each reason for dropping."""

    name: str
    seen: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"name": self.name, "seen": self.seen, "kept": self.kept, "dropped": dict(self.dropped)}


@dataclass(frozen=True)
class ChainFilter:
    """A named check: `check(chain)` returns None to keep the chain, or the reason to drop it."""

    name: str
    check: Callable[[Chain], "str | None"]


def correctness_filter(grade: Callable[[TaskItem, str], "float | None"]) -> ChainFilter:
    """Keep chains whose final answer the grader (a task's `grade`) scores 1."""
    def check(chain: Chain) -> str | None:
        if not chain.well_formed:
            return "malformed (no single </think>)"
        score = grade(chain.item, chain.answer)
        if score is None:
            return "answer not scorable"
        return None if score >= 1.0 else "wrong answer"
    return ChainFilter("correctness", check)


GroundingJudge = Callable[[str, str], "bool | None"]
"""(question, reasoning) -> True when the reasoning refers to what was heard; None when unsure."""


def grounding_filter(min_score: float = 0.75, min_claim_accuracy: float = 1.0,
                     judge: GroundingJudge | None = None) -> ChainFilter:
    """Keep chains whose acoustic claims are verified against the item's facts.

    Mentioning acoustic words is not enough: at least one claim must be checkable, the share of
    matching claims must reach `min_claim_accuracy` and the verifier's score `min_score`. An item
    without facts is judged on its share of acoustic statements (>= `min_score`) and, with a
    `judge`, the judge's NO drops it.
    """
    def check(chain: Chain) -> str | None:
        facts = item_facts(chain.item)
        g = verify_grounding(chain.reasoning, facts)
        if not facts:
            if g.acoustic_share < min_score:
                return "reasoning cites text, not sound"
            if judge is not None and judge(chain.item.question, chain.reasoning) is False:
                return "judge: reasoning does not refer to the audio"
            return None
        if g.claim_accuracy is None:
            return "no verifiable acoustic claim"
        if g.claim_accuracy is not None and g.claim_accuracy < min_claim_accuracy:
            return "acoustic claim contradicts the facts"
        if g.score < min_score:
            return "reasoning cites text, not sound"
        return None
    return ChainFilter("grounding", check)


def concluded_answer(reasoning: str) -> str | None:
    """The answer the reasoning's last line concludes ("... the answer is X."), or None."""
    lines = [ln.strip() for ln in reasoning.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    m = _CONCLUSION.search(lines[-1])
    return m.group(1).strip() if m else None


def same_answer(a: str, b: str, choices: Sequence[str] | None) -> bool:
    """Whether two answer texts name the same choice / number / normalised text."""
    if choices:
        ca, cb = match_choice(a, choices), match_choice(b, choices)
        if ca is not None or cb is not None:
            return ca == cb
    na, nb = extract_number(a), extract_number(b)
    if na is not None and nb is not None:
        return abs(na - nb) <= 1e-6 * max(1.0, abs(nb))
    return normalize(a) == normalize(b)


def repeated_line(reasoning: str, max_repeats: int = 2) -> str | None:
    """A line that occurs more than `max_repeats` times (degenerate looping), or None."""
    counts = Counter(ln.strip() for ln in reasoning.splitlines() if ln.strip())
    worst = max(counts.items(), key=lambda kv: kv[1], default=(None, 0))
    return worst[0] if worst[1] > max_repeats else None


LogicJudge = Callable[[str, str, str], "bool | None"]
"""(question, reasoning, answer) -> True when the reasoning supports the answer; None when unsure."""


def endpoint_logic_judge(base_url: str, model: str, *, api_key: str = "EMPTY", timeout_s: float = 60.0,
                         retry: RetryPolicy = RetryPolicy()) -> LogicJudge:
    """A logical-coherence judge through any OpenAI-compatible endpoint (YES/NO; anything else is unsure).

    The shared judge client: retried, then `JudgeFailed`, which the filters count as "judge failed"."""
    ask = yes_no_endpoint(base_url, model, api_key=api_key, timeout_s=timeout_s, retry=retry)

    def judge(question: str, reasoning: str, answer: str) -> bool | None:
        return ask("Here is a question about an audio clip, a step-by-step reasoning and a final answer.\n"
                   f"Question: {question}\nReasoning: {reasoning}\nFinal answer: {answer}\n"
                   "Does the reasoning follow step by step and support exactly this final answer? Reply YES or NO.")

    return judge


def coherence_filter(judge: LogicJudge | None = None, max_repeats: int = 2) -> ChainFilter:
    """Keep chains whose reasoning concludes the final answer and does not loop; an optional LLM judge
    has the last word on the rest."""
    def check(chain: Chain) -> str | None:
        if not chain.reasoning.strip():
            return "empty reasoning"
        if repeated_line(chain.reasoning, max_repeats) is not None:
            return "degenerate repetition"
        concluded = concluded_answer(chain.reasoning)
        if concluded is None:
            return "reasoning reaches no conclusion"
        if not same_answer(concluded, chain.answer, chain.item.choices or None):
            return "conclusion differs from the final answer"
        try:
            if judge is not None and judge(chain.item.question, chain.reasoning, chain.answer) is False:
                return "judge: reasoning does not support the answer"
        except JudgeFailed:
            return JUDGE_FAILED
        return None
    return ChainFilter("coherence", check)


def cognition_filter(judge: CognitionJudge | None = None) -> ChainFilter:
    """Drop chains that deny being able to hear (the world's rule, or a judge)."""
    def check(chain: Chain) -> str | None:
        try:
            return "denies hearing" if is_denial(chain.item.question, chain.completion, judge) else None
        except JudgeFailed:
            return JUDGE_FAILED
    return ChainFilter("self-cognition", check)


def default_filters(task: ChainTask, *, min_grounding: float = 0.75, logic_judge: LogicJudge | None = None,
                    cognition_judge: CognitionJudge | None = None,
                    grounding_judge: GroundingJudge | None = None) -> list[ChainFilter]:
    """The MGRD filters in order: correctness (the task's grader), acoustic grounding, logical coherence,
    self-cognition."""
    return [correctness_filter(task.grade), grounding_filter(min_grounding, judge=grounding_judge),
            coherence_filter(logic_judge), cognition_filter(cognition_judge)]


def grounding_evidence(chains: Sequence[Chain]) -> dict[str, int]:
    """How many chains the grounding filter can check against facts, and how many only by the lexicon."""
    with_facts = sum(1 for c in chains if item_facts(c.item))
    return {"facts": with_facts, "lexicon": len(chains) - with_facts}


def apply_filters(chains: Sequence[Chain], filters: Sequence[ChainFilter]) -> tuple[list[Chain], list[FilterReport]]:
    """Run the filters in order; each sees only what the previous ones kept."""
    reports = []
    kept = list(chains)
    for f in filters:
        report = FilterReport(f.name, seen=len(kept))
        survivors = []
        for chain in kept:
            reason = f.check(chain)
            if reason is None:
                survivors.append(chain)
            else:
                report.dropped[reason] += 1
        report.kept = len(survivors)
        reports.append(report)
        kept = survivors
    return kept, reports


def sample_chains(backend: Backend, task: ChainTask, items: Sequence[TaskItem], *, samples: int, max_tokens: int,
                  temperature: float = 1.0, top_p: float = 1.0, seed: int = 0, batch_prompts: int = 64,
                  on_progress: Callable[[int, int], None] | None = None) -> tuple[list[Chain], list[GenerationResult]]:
    """K = `samples` chains per item from `backend` (the native engine or an endpoint), item-major
    order, with unlimited reasoning; sample j of an item is seeded by `item_seed(seed, j, item id)`.

    Returns (chains, failures): a sample the backend could not produce is not a chain, and the
    failed results come back for the caller to count and report.
    """
    chains: list[Chain] = []
    failures: list[GenerationResult] = []
    sampling = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "repetition_penalty": 1.0,
                "thinking_budget": None}
    for start in range(0, len(items), batch_prompts):
        chunk = items[start:start + batch_prompts]
        results = sample(backend, [(item.id, task.messages(item)) for item in chunk], n=samples, sampling=sampling,
                         seed=seed)
        for item, outs in zip(chunk, results):
            for j, g in enumerate(outs):
                if g.status != "ok":
                    failures.append(g)
                    continue
                chains.append(Chain(item, j, g.reasoning, g.answer, g.well_formed and g.finish_reason == "stop"))
        if on_progress:
            on_progress(min(start + batch_prompts, len(items)), len(items))
    return chains, failures


def sft_record(chain: Chain, task: ChainTask) -> dict[str, Any]:
    """An SFT record (the task's user turn + the chain as the assistant target)."""
    return {"messages": task.messages(chain.item) + [{"role": "assistant", "content": chain.completion}],
            "id": chain.item.id}


def summarize(reports: Sequence[FilterReport]) -> dict[str, Any]:
    """Plain-data filter reports plus the overall keep rate."""
    seen = reports[0].seen if reports else 0
    kept = reports[-1].kept if reports else 0
    return {"chains": seen, "kept": kept, "keep_rate": kept / seen if seen else 0.0,
            "filters": [r.to_dict() for r in reports]}

