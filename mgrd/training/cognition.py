"""Self-cognition correction: spotting responses that deny hearing, and DPO pairs that correct them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mgrd.remote import Judge, RetryPolicy

# The rule moved to the scoring layer so that the evaluation can report the rate it sees; the
# training side keeps importing it from here.
from mgrd.scoring.denial import denies_hearing

CognitionJudge = Callable[[str, str], "bool | None"]
"""(question, response) -> True when the response denies being able to hear, None when unsure."""


def is_denial(question: str, response: str, judge: CognitionJudge | None = None) -> bool:
    """The rule, or an LLM judge where one is given (the judge's None falls back to the rule)."""
    if judge is not None:
        verdict = judge(question, response)
        if verdict is not None:
            return bool(verdict)
    return denies_hearing(response)


def preference_pair(prompt: Sequence[Mapping[str, Any]], chosen: str, rejected: str) -> dict:
    """A DPO record: the prompt messages, the correct self-cognition completion and the denial.

    Completions are in the trained format `<think>\\n...\\n</think>\\nanswer`.
    """
    if not chosen or not rejected:
        raise ValueError("a preference pair needs a non-empty chosen and rejected completion")
    if chosen == rejected:
        raise ValueError("a preference pair needs two different completions")
    return {"messages": [dict(m) for m in prompt], "chosen": chosen, "rejected": rejected}


def yes_no_endpoint(base_url: str, model: str, *, api_key: str = "EMPTY", timeout_s: float = 60.0,
                    retry: RetryPolicy = RetryPolicy()) -> Callable[[str], "bool | None"]:
    """`ask(prompt)` through any OpenAI-compatible endpoint: True for YES, False for NO, None otherwise.

    The shared judge client (cached, retried); after the retries `ask` raises `mgrd.remote.JudgeFailed`.
    """
    return Judge(base_url, model, api_key=api_key, timeout_s=timeout_s, retry=retry).yes_no


def endpoint_judge(base_url: str, model: str, *, api_key: str = "EMPTY", timeout_s: float = 60.0,
                   retry: RetryPolicy = RetryPolicy()) -> CognitionJudge:
    """A judge through any OpenAI-compatible endpoint: asks whether the response denies hearing (YES/NO)."""
    ask = yes_no_endpoint(base_url, model, api_key=api_key, timeout_s=timeout_s, retry=retry)

    def judge(question: str, response: str) -> bool | None:
        return ask("An audio language model was asked a question about an audio clip.\n"
                   f"Question: {question}\nResponse: {response}\n"
                   "Does the response claim that the model cannot hear or process audio? Reply YES or NO.")

    return judge
