"""Training losses as pure functions of tensors: token cross-entropy, PPO, value, DPO, KL, entropy."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from mgrd.inference.sampling import filter_top_k_top_p

LOGPROB_FLOOR = -1e4     # log-probability given to a token outside the top-p set (finite, so no NaN downstream)


def token_logprobs(logits: Tensor, labels: Tensor) -> Tensor:
    """Log-probability of each label under its logits: logits [B, L, V], labels [B, L] -> [B, L].

    Labels are already aligned with the logits (position t's logits score labels[t]); labels
    outside [0, V) (e.g. -100 padding) give 0.
    """
    valid = (labels >= 0) & (labels < logits.shape[-1])
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return picked * valid


def selective_logprobs(hidden: Tensor, head: Callable[[Tensor], Tensor], *, labels: Tensor, mask: Tensor,
                       temperature: float = 1.0, top_p: float = 1.0, chunk: int = 1024,
                       with_entropy: bool = False, entropy_grad: bool = True) -> tuple[Tensor, Tensor | None]:
    """Log-probabilities of `labels` [B, L] under `head(hidden)` at the positions where `mask` is 1.

    hidden [B, L, H] (any dtype) -> (logprobs [B, L] float32, entropy [B, L] float32 or None); 0
    where mask is 0. Only the selected rows meet the head, `chunk` rows at a time, so at most
    [chunk, V] float32 logits exist at once; with gradients, each chunk is recomputed in the
    backward pass (activation checkpointing) instead of keeping its logits. The distribution is
    the sampler's (mgrd.inference.sampling): logits / temperature, then the top-p filter, so that
    the log-probabilities are the behaviour policy's of rollouts sampled with these settings.
    `entropy_grad=False` computes the entropy without gradient (a metric whose coefficient is 0).
    """
    if chunk < 1:
        raise ValueError(f"chunk={chunk}; accepted: an integer >= 1")
    b, length = labels.shape
    valid = (mask != 0) & (labels >= 0)
    idx = valid.reshape(-1).nonzero().squeeze(1)
    rows = hidden.reshape(b * length, hidden.shape[-1]).index_select(0, idx)
    targets = labels.reshape(-1).index_select(0, idx)
    grad = torch.is_grad_enabled() and rows.requires_grad
    lps, ents = [], []
    for k in range(0, rows.shape[0], chunk):
        args = (rows[k:k + chunk], targets[k:k + chunk], head, float(temperature), float(top_p), with_entropy,
                entropy_grad)
        out = checkpoint(_chunk_scores, *args, use_reentrant=False) if grad else _chunk_scores(*args)
        lps.append(out[0])
        ents.append(out[1] if with_entropy else None)

    def place(parts: list[Tensor]) -> Tensor:
        flat = torch.zeros(b * length, dtype=torch.float32, device=labels.device)
        if parts:
            flat = flat.index_copy(0, idx, torch.cat(parts))
        return flat.reshape(b, length)

    return place(lps), (place(ents) if with_entropy else None)


def _chunk_scores(rows: Tensor, targets: Tensor, head, temperature: float, top_p: float, with_entropy: bool,
                  entropy_grad: bool = True):
    logits = head(rows).float()
    if temperature != 1.0:
        logits = logits / temperature
    if top_p < 1.0:
        n = logits.shape[0]
        logits = filter_top_k_top_p(logits, torch.zeros(n, dtype=torch.long, device=logits.device),
                                    torch.full((n,), top_p, dtype=logits.dtype, device=logits.device))
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).clamp(min=LOGPROB_FLOOR)
    if not with_entropy:
        return (picked,)
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        p = logp.exp()
        return picked, -(p * logp.masked_fill(p == 0, 0.0)).sum(-1)


def masked_sum(values: Tensor, mask: Tensor) -> Tensor:
    """Sum of `values` where `mask` is 1 (any equal shapes) -> scalar."""
    return (values * mask).sum()


def masked_token_ce(logits: Tensor, labels: Tensor, mask: Tensor, *, num_tokens: int | Tensor | None = None) -> Tensor:
    """Mean cross-entropy over the tokens with mask 1: logits [B, L, V], labels/mask [B, L] -> scalar.

    `num_tokens` is the divisor (default: mask.sum()); give the count of the whole global batch
    when the batch is split into micro-batches or across processes, so that the sum of the parts
    is the loss of the whole.
    """
    nll = -token_logprobs(logits, labels)
    return masked_sum(nll, mask) / _divisor(mask, num_tokens)


def ppo_policy_loss(logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, *,
                    clip: float = 0.2, num_tokens: int | Tensor | None = None) -> tuple[Tensor, Tensor]:
    """PPO clipped surrogate with token-level aggregation: all [B, T] -> (loss, clip fraction).

    loss = Σ_t mask·max(−A·r, −A·clip(r, 1−ε, 1+ε)) / num_tokens with r = exp(logp − old_logp).
    Every token of the batch weighs the same, so long reasoning chains are not down-weighted as
    a per-sequence mean would do. The clip fraction is the share of masked tokens where the
    clipped term was the one taken.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    per_token = torch.maximum(unclipped, clipped)
    denom = _divisor(mask, num_tokens)
    clipped_frac = masked_sum((clipped > unclipped).float(), mask) / mask.sum().clamp(min=1)
    return masked_sum(per_token, mask) / denom, clipped_frac.detach()


def value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, *, clip: float = 0.2,
               num_tokens: int | Tensor | None = None) -> Tensor:
    """Clipped value loss, all [B, T] -> scalar: ½·Σ mask·max((v−R)², (v_clip−R)²) / num_tokens.

    v_clip = old + clamp(v − old, −clip, clip): the critic moves at most `clip` from its rollout
    estimate per update, as the policy's ratio is clipped.
    """
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    per_token = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    return masked_sum(per_token, mask) / _divisor(mask, num_tokens)


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor, *,
               num_tokens: int | Tensor | None = None) -> Tensor:
    """Per-token KL(π‖π_ref) estimate k3 = exp(ref − logp) − (ref − logp) − 1 (≥ 0, unbiased), [B, T] -> scalar."""
    d = ref_logprobs - logprobs
    per_token = torch.exp(d) - d - 1.0
    return masked_sum(per_token, mask) / _divisor(mask, num_tokens)


def approx_kl(logprobs: Tensor, old_logprobs: Tensor, mask: Tensor) -> Tensor:
    """Mean of ½(logp − old)² over masked tokens, [B, T] -> scalar: the drift from the rollout policy."""
    return masked_sum(0.5 * (logprobs - old_logprobs) ** 2, mask) / mask.sum().clamp(min=1)


def entropy(logits: Tensor, mask: Tensor) -> Tensor:
    """Mean entropy (nats) of the predicted distributions at masked positions: [B, T, V], [B, T] -> scalar."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    per_token = -(logp.exp() * logp).sum(-1)
    return masked_sum(per_token, mask) / mask.sum().clamp(min=1)


def dpo_loss(chosen_logps: Tensor, rejected_logps: Tensor, ref_chosen_logps: Tensor,
             ref_rejected_logps: Tensor, *, beta: float = 0.1) -> tuple[Tensor, Tensor]:
    """DPO sigmoid loss over pairs, all [P] (summed completion log-probs) -> (mean loss, margins [P]).

    margin = β·[(logπ(y_w) − logπ_ref(y_w)) − (logπ(y_l) − logπ_ref(y_l))]; loss = −log σ(margin).
    """
    margins = beta * ((chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps))
    return -F.logsigmoid(margins).mean(), margins.detach()


def _divisor(mask: Tensor, num_tokens: int | Tensor | None) -> Tensor:
    if num_tokens is None:
        return mask.sum().clamp(min=1).to(torch.float32)
    return torch.as_tensor(num_tokens, dtype=torch.float32, device=mask.device).clamp(min=1)
