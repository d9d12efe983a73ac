"""Self-distillation (paper eq. 4) and the filters that keep only grounded, coherent, correct chains.

The current model samples K chains per audio question; each chain passes through the filters in
order (correctness, acoustic grounding, logical coherence, self-cognition) and the kept ones
become SFT data. Every filter reports how many chains it saw, kept, and why it dropped the others.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mgrd.data.records import Record, messages_for
from mgrd.remote import JudgeFailed, RetryPolicy
from mgrd.scoring import extract_number, match_choice, normalize
from mgrd.scoring.grounding import verify_grounding
from mgrd.tasks.world import WorldTask, record_item
from mgrd.training.cognition import CognitionJudge, is_denial, yes_no_endpoint

# The closing line of a chain: "So the answer is X.", "Therefore the answer is X.", "Hence: X."
_CONCLUSION = re.compile(r"(?:answer is|hence:)\s*(.+?)\s*\.?\s*$", re.IGNORECASE)
# A judge that gave no reply after its retries: the chain is not vouched for, and the report counts it.
JUDGE_FAILED = "judge failed"


@dataclass(frozen=True)
class Chain:
    """One sampled completion of a world record: its reasoning and final answer."""

    record: Record
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


def grade_record(record: Record, answer: str) -> float | None:
    """The world's grader for a record's final answer (1 right, 0 wrong, None unscorable)."""
    return WorldTask([]).grade(record_item(record, "."), answer)


def correctness_filter(grade: Callable[[Record, str], "float | None"] = grade_record) -> ChainFilter:
    """Keep chains whose final answer the grader scores 1."""
    def check(chain: Chain) -> str | None:
        if not chain.well_formed:
            return "malformed (no single </think>)"
        score = grade(chain.record, chain.answer)
        if score is None:
            return "answer not scorable"
        return None if score >= 1.0 else "wrong answer"
    return ChainFilter("correctness", check)


def grounding_filter(min_score: float = 0.75, min_claim_accuracy: float = 1.0) -> ChainFilter:
    """Keep chains whose acoustic claims are verified against the record's facts.

    Mentioning acoustic words is not enough: at least one claim must be checkable, the share of
    matching claims must reach `min_claim_accuracy` and the verifier's score `min_score`.
    """
    def check(chain: Chain) -> str | None:
        facts = [f.__dict__ for f in chain.record.facts]
        g = verify_grounding(chain.reasoning, facts)
        if facts and g.claim_accuracy is None:
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
        if not same_answer(concluded, chain.answer, chain.record.choices):
            return "conclusion differs from the final answer"
        try:
            if judge is not None and judge(chain.record.question, chain.reasoning, chain.answer) is False:
                return "judge: reasoning does not support the answer"
        except JudgeFailed:
            return JUDGE_FAILED
        return None
    return ChainFilter("coherence", check)


def cognition_filter(judge: CognitionJudge | None = None) -> ChainFilter:
    """Drop chains that deny being able to hear (the world's rule, or a judge)."""
    def check(chain: Chain) -> str | None:
        try:
            return "denies hearing" if is_denial(chain.record.question, chain.completion, judge) else None
        except JudgeFailed:
            return JUDGE_FAILED
    return ChainFilter("self-cognition", check)


def default_filters(*, min_grounding: float = 0.75, logic_judge: LogicJudge | None = None,
                    cognition_judge: CognitionJudge | None = None) -> list[ChainFilter]:
    """The MGRD filters in order: correctness, acoustic grounding, logical coherence, self-cognition."""
    return [correctness_filter(), grounding_filter(min_grounding), coherence_filter(logic_judge),
            cognition_filter(cognition_judge)]


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


def prompt_messages(record: Record, root: str | os.PathLike) -> list[dict]:
    """The user turn of a world record with its audio paths resolved against the dataset directory."""
    user = messages_for(record, "empty")[0]
    content = [dict(p, audio=str(Path(root) / p["audio"])) if p.get("type") == "audio" else dict(p)
               for p in user["content"]]
    return [{"role": "user", "content": content}]


def sample_chains(engine, records: Sequence[Record], root: str | os.PathLike, *, samples: int, max_tokens: int,
                  temperature: float = 1.0, seed: int = 0, batch_prompts: int = 16,
                  on_progress: Callable[[int, int], None] | None = None) -> list[Chain]:
    """K = `samples` chains per record from `engine` (an mgrd.inference.Engine), record-major order."""
    from mgrd.inference import SamplingParams, build_prompt

    chains: list[Chain] = []
    for start in range(0, len(records), batch_prompts):
        chunk = records[start:start + batch_prompts]
        prompts = [build_prompt(prompt_messages(r, root), engine.tokenizer) for r in chunk]
        params = [SamplingParams(n=samples, max_tokens=max_tokens, temperature=temperature,
                                 seed=(seed * 1_000_003 + start + i) % 2**62) for i in range(len(chunk))]
        for record, gens in zip(chunk, engine.generate(prompts, params)):
            for g in gens:   # the engine splits reasoning and answer (it knows what the prompt held)
                chains.append(Chain(record, g.sample_index, g.reasoning, g.answer,
                                    g.well_formed and g.finish_reason == "stop"))
        if on_progress:
            on_progress(min(start + batch_prompts, len(records)), len(records))
    return chains


def sft_record(chain: Chain, root: str | os.PathLike) -> dict[str, Any]:
    """An SFT record (user turn + the chain as the assistant target), audio paths absolute."""
    return {"messages": prompt_messages(chain.record, root) + [{"role": "assistant", "content": chain.completion}],
            "id": chain.record.id}


def summarize(reports: Sequence[FilterReport]) -> dict[str, Any]:
    """Plain-data filter reports plus the overall keep rate."""
    seen = reports[0].seen if reports else 0
    kept = reports[-1].kept if reports else 0
    return {"chains": seen, "kept": kept, "keep_rate": kept / seen if seen else 0.0,
            "filters": [r.to_dict() for r in reports]}

