"""Sampling options (frozen, validated) and the token sampler they configure."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

MAX_TOKENS_LIMIT = 1 << 20


@dataclass(frozen=True)
class SamplingParams:
    """How to sample completions.

    temperature 0 means greedy. `thinking_budget`: None = unlimited reasoning; N > 0 = after N
    reasoning tokens the engine closes the reasoning itself (`\\n</think>\\n`) and the model goes
    on with the answer; 0 = no reasoning at all (the prompt is prefilled with the closed block).
    `max_tokens` counts every generated token, reasoning included.
    """

    max_tokens: int = 1024
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    n: int = 1
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    stop: tuple[str, ...] = ()
    thinking_budget: int | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        def bad(name: str, accepted: str) -> None:
            raise ValueError(f"{name}={getattr(self, name)!r} is out of range; accepted: {accepted}")

        if not isinstance(self.max_tokens, int) or not 1 <= self.max_tokens <= MAX_TOKENS_LIMIT:
            bad("max_tokens", f"an integer in [1, {MAX_TOKENS_LIMIT}]")
        if not _finite(self.temperature) or not 0.0 <= self.temperature <= 100.0:
            bad("temperature", "a number in [0, 100] (0 = greedy)")
        if not _finite(self.top_p) or not 0.0 < self.top_p <= 1.0:
            bad("top_p", "a number in (0, 1]")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            bad("top_k", "an integer >= 0 (0 = off)")
        if not _finite(self.repetition_penalty) or not 0.0 < self.repetition_penalty <= 10.0:
            bad("repetition_penalty", "a number in (0, 10] (1 = off)")
        if not isinstance(self.n, int) or not 1 <= self.n <= 128:
            bad("n", "an integer in [1, 128]")
        if self.seed is not None and (not isinstance(self.seed, int) or not 0 <= self.seed < 2**63):
            bad("seed", "null or an integer in [0, 2^63)")
        if self.thinking_budget is not None and (
                not isinstance(self.thinking_budget, int) or self.thinking_budget < 0):
            bad("thinking_budget", "null (unlimited) or an integer >= 0")
        object.__setattr__(self, "stop_token_ids", tuple(self.stop_token_ids))
        object.__setattr__(self, "stop", tuple(self.stop))
        if any(not isinstance(t, int) or t < 0 for t in self.stop_token_ids):
            bad("stop_token_ids", "a list of non-negative integers")
        if any(not isinstance(s, str) or not s for s in self.stop) or len(self.stop) > 16:
            bad("stop", "up to 16 non-empty strings")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """CTRL-style penalty on tokens already seen (prompt or output), as transformers and vLLM do.

    logits `[B, V]`, seen `[B, V]` bool, penalty `[B]`: a seen logit l becomes l/p if l > 0 else l*p.
    """
    p = penalty.unsqueeze(1)
    penalised = torch.where(logits > 0, logits / p, logits * p)
    return torch.where(seen, penalised, logits)


def filter_top_k_top_p(logits: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Mask (to -inf) tokens outside the top-k and outside the smallest set with mass >= top_p.

    logits `[B, V]` (already temperature-scaled), top_k `[B]` (0 = off), top_p `[B]` (1 = off).
    The most likely token always survives.
    """
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    V = logits.shape[-1]
    rank = torch.arange(V, device=logits.device).unsqueeze(0)
    k = torch.where(top_k > 0, top_k, torch.full_like(top_k, V)).unsqueeze(1)
    drop = rank >= k
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    drop |= mass_before >= top_p.unsqueeze(1)
    drop[:, 0] = False
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.empty_like(logits).scatter_(1, order, sorted_logits)


def sample_rows(logits: torch.Tensor, rows: list["RowSampling"]) -> torch.Tensor:
    """Pick one token per row of `logits [B, V]` (fp32); returns `[B]` int64.

    Greedy rows take the argmax. Others draw by inverse CDF with their own generator, so a seeded
    request gives the same tokens whatever else shares its batch.
    """
    greedy = logits.argmax(dim=-1)
    if all(r.temperature == 0.0 for r in rows):
        return greedy
    dev = logits.device
    temp = torch.tensor([r.temperature or 1.0 for r in rows], device=dev).unsqueeze(1)
    top_k = torch.tensor([r.top_k for r in rows], device=dev)
    top_p = torch.tensor([r.top_p for r in rows], device=dev, dtype=logits.dtype)
    probs = filter_top_k_top_p(logits / temp, top_k, top_p).softmax(dim=-1)
    uniform = torch.tensor([float(torch.rand((), generator=r.generator)) if r.temperature else 0.0
                            for r in rows], device=dev, dtype=probs.dtype)
    cdf = probs.cumsum(dim=-1)
    drawn = torch.searchsorted(cdf, (uniform * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
    drawn = drawn.clamp(max=logits.shape[-1] - 1)
    is_greedy = torch.tensor([r.temperature == 0.0 for r in rows], device=dev)
    return torch.where(is_greedy, greedy, drawn)


@dataclass
class RowSampling:
    """Per-row sampling state: the row's parameters and its random generator."""

    temperature: float
    top_k: int
    top_p: float
    generator: torch.Generator | None
