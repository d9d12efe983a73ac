"""Training losses as pure functions of tensors: token cross-entropy, PPO, value, DPO, KL, entropy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def token_logprobs(logits: Tensor, labels: Tensor) -> Tensor:
    """Log-probability of each label under its logits: logits [B, L, V], labels [B, L] -> [B, L].

    Labels are already aligned with the logits (position t's logits score labels[t]); labels
    outside [0, V) (e.g. -100 padding) give 0.
    """
    valid = (labels >= 0) & (labels < logits.shape[-1])
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return picked * valid


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
