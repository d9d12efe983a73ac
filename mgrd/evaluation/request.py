"""What a backend is asked (one item, one sample) and what it answers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
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
    item_id: str = ""                # the item asked; a backend derives the item's own seed from it


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


def item_seed(seed: int, item_id: str) -> int:
    """The seed of one item's sampling: derived from the run's `seed` and the item's id, so every item
    has its own random stream, the same at every thinking budget (and whatever else shares its batch).

    >>> item_seed(0, "m1") == item_seed(0, "m1") != item_seed(0, "m2")
    True
    """
    digest = hashlib.sha256(f"{int(seed)}/{item_id}".encode("utf-8")).digest()
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
