"""Generation backends: what a backend is asked (one item, one sample), what it answers, and the
one rule that gives every item its own sampling seed.

A backend is a model behind a protocol: the native engine on a local checkpoint
(`mgrd.evaluation.NativeBackend`) or any OpenAI-compatible endpoint (`mgrd.evaluation.EndpointBackend`).
Evaluation and every post-training stage that samples from a fixed policy (self-distillation,
pass@k curation, self-cognition sampling) take one, so each of them runs on either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "repetition_penalty", "seed", "thinking_budget")


@dataclass(frozen=True)
class GenerationRequest:
    """One sample of one item: chat messages (audio parts as file paths) and sampling settings.

    `sampling` holds `SAMPLING_KEYS`; `thinking_budget` None = unlimited, 0 = no reasoning.
    """

    key: str
    messages: list
    sampling: Mapping
    item_id: str = ""                # the item asked


@dataclass
class GenerationResult:
    """A backend's answer. `status` is "ok" or "failed"; a failed result carries `error` and no answer."""

    key: str
    status: str
    text: str = ""                   # the raw generated text (after any prefill)
    reasoning: str = ""
    answer: str = ""
    well_formed: bool = False        # exactly one closed reasoning block
    finish_reason: str = ""
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    prompt_tokens: int | None = None
    latency_s: float = 0.0
    attempts: int = 1
    error: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


SEED_RULE = "sha256(base/sample/item id) v2"


def item_seed(base: int, sample: int, item_id: str) -> int:
    """The sampling seed of one sample of one item: a function of the run's `base` seed, the sample's
    index (0..n-1, or the sweep's seed) and the item's id alone, so every item has its own random
    stream, the same at every thinking budget, at every stage and whatever else shares its batch.

    >>> item_seed(0, 0, "m1") == item_seed(0, 0, "m1") != item_seed(0, 0, "m2")
    True
    >>> item_seed(0, 1, "m1") != item_seed(0, 0, "m1") != item_seed(1, 0, "m1")
    True
    """
    digest = hashlib.sha256(f"{int(base)}/{int(sample)}/{item_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 2**62


def failed(key: str, error: str, *, attempts: int = 1, latency_s: float = 0.0) -> GenerationResult:
    return GenerationResult(key=key, status="failed", error=error, attempts=attempts, latency_s=latency_s)


class Backend(Protocol):
    """A model to evaluate: a local checkpoint or an endpoint."""

    def identity(self) -> dict:
        """What the cache keys on: checkpoint hash, or endpoint + served model + request shape."""

    def run(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        """Results in completion order, one per request; failures are results, not exceptions."""

    def close(self) -> None:
        """Release connections or memory."""


def sample(backend: Backend, prompts: Sequence[tuple[str, list]], *, n: int, sampling: Mapping,
           seed: int = 0) -> list[list[GenerationResult]]:
    """`n` samples of each `(item id, messages)` prompt from `backend`, in prompt order (sample j of an
    item is drawn with `item_seed(seed, j, item id)`); failures are results with status "failed".

    The fixed-policy stages' one way to generate: any backend, any batching, the same seeds.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ids = [item_id for item_id, _ in prompts]
    if len(set(ids)) != len(ids):
        raise ValueError("sample() needs distinct item ids: each item's seeds derive from its id")
    requests = [GenerationRequest(f"{item_id}#{j}", messages, {**sampling, "seed": item_seed(seed, j, item_id)},
                                  item_id)
                for item_id, messages in prompts for j in range(n)]
    by_key = {r.key: r for r in backend.run(requests)}
    missing = [r.key for r in requests if r.key not in by_key]
    if missing:
        raise RuntimeError(f"the backend returned no result for {len(missing)} of {len(requests)} requests "
                           f"(first: {missing[0]})")
    return [[by_key[f"{item_id}#{j}"] for j in range(n)] for item_id in ids]
