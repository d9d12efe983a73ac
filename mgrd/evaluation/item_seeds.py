"""Per-item sampling seeds: a backend wrapper that gives every item its own seed, the same at every budget.

The runner's settings carry one seed for every item of a sweep, and a backend that batches requests
would then draw every item of a batch from identical random streams. Wrapped, each request's seed
becomes a hash of the base seed, the setting's seed and the prompt (text and audio bytes): an item
keeps its seed at every thinking budget and for every model evaluated on it, so scores pair by item,
and two different items never share a stream. Greedy requests ignore seeds and are passed unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mgrd.evaluation.identity import prompt_hash, stable_hash
from mgrd.evaluation.request import Backend, GenerationRequest, GenerationResult

SEED_RULE = "sha256(base, setting seed, prompt) v1"


def item_seed(base: int, setting_seed: int, messages: list) -> int:
    """The seed of one item's request: in [0, 2^60), a function of the seeds and the prompt alone."""
    digest = stable_hash({"base": base, "seed": setting_seed, "prompt": prompt_hash(messages)})
    return int(digest[:15], 16)


class ItemSeeded:
    """`backend` with each sampled request's seed replaced by its `item_seed`; the seed used is
    returned in the result's `extra["seed"]` (so it is stored with the record)."""

    def __init__(self, backend: Backend, base_seed: int) -> None:
        if not isinstance(base_seed, int) or base_seed < 0:
            raise ValueError(f"base_seed must be a non-negative integer, got {base_seed!r}")
        self.backend, self.base_seed = backend, base_seed

    def identity(self) -> dict:
        # In the identity, hence in every cache key: a changed base seed or rule is a different run.
        return {**self.backend.identity(), "item_seeds": {"base": self.base_seed, "rule": SEED_RULE}}

    def run(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        used: dict[str, int | None] = {}

        def seeded() -> Iterator[GenerationRequest]:
            for r in requests:
                sampling = dict(r.sampling)
                if float(sampling.get("temperature") or 0.0) > 0.0:
                    sampling["seed"] = item_seed(self.base_seed, int(sampling.get("seed") or 0), r.messages)
                used[r.key] = sampling.get("seed")
                yield GenerationRequest(r.key, r.messages, sampling)

        for result in self.backend.run(seeded()):
            result.extra = {**result.extra, "seed": used.get(result.key)}
            yield result

    def close(self) -> None:
        self.backend.close()
