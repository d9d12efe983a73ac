"""Advantage estimation as pure functions: outcome rewards on the final token, GAE, whitening, GRPO groups."""

from __future__ import annotations

import torch
from torch import Tensor


def final_token_rewards(scores: Tensor, mask: Tensor) -> Tensor:
    """Place each sequence's scalar reward on its last masked token: scores [B], mask [B, T] -> [B, T].

    A sequence with no masked token gets no reward anywhere.
    """
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = torch.where(mask.bool(), positions, torch.full_like(positions, -1)).max(dim=1).values
    rewards = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    rows = torch.nonzero(last >= 0).squeeze(1)
    rewards[rows, last[rows]] = scores[rows].float()
    return rewards


def gae(rewards: Tensor, values: Tensor, mask: Tensor, *, gamma: float = 1.0,
        lam: float = 1.0) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over masked tokens: all [B, T] -> (advantages, returns).

    δ_t = r_t + γ·V_{t'} − V_t and A_t = δ_t + γλ·A_{t'}, where t' is the next masked token
    (unmasked tokens, e.g. forced ones, are skipped and get advantage 0); after the last
    masked token V = 0. returns = A + V. With γ = λ = 1 and the reward on the final token
    this is A_t = R − V_t.
    """
    B, T = rewards.shape
    adv = torch.zeros(B, T, dtype=torch.float32, device=rewards.device)
    next_value = torch.zeros(B, dtype=torch.float32, device=rewards.device)
    next_adv = torch.zeros(B, dtype=torch.float32, device=rewards.device)
    m = mask.float()
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        a = delta + gamma * lam * next_adv
        adv[:, t] = a * m[:, t]
        next_value = torch.where(m[:, t] > 0, values[:, t].float(), next_value)
        next_adv = torch.where(m[:, t] > 0, a, next_adv)
    return adv, (adv + values.float()) * m


def whiten(values: Tensor, mask: Tensor, *, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """(x − mean)/std over masked entries (mean kept when shift_mean is False): [B, T] -> [B, T]."""
    m = mask.float()
    n = m.sum().clamp(min=1)
    mean = (values * m).sum() / n
    var = (((values - mean) ** 2) * m).sum() / n
    out = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * m


GROUP_SCALES = ("std", "none")


def group_advantages(scores: Tensor, group_size: int | None = None, *, scale: str = "std",
                     eps: float = 1e-6) -> Tensor:
    """Each sample's outcome reward against the other samples of its prompt (GRPO): -> [P*n] float32.

    `scores` is [P, n] (a row per prompt) or [P*n] in prompt-major order (the n samples of prompt
    0, then of prompt 1, ...; `group_size` = n). A_i = r_i − mean(group) for scale "none" (Dr.
    GRPO), divided by std(group) + eps for scale "std" (sample std, n − 1 in the denominator, as
    GRPO is usually written). A group whose rewards are all equal carries no signal: its
    advantages are exactly 0 (not the rounding error of its mean over eps).
    """
    if scale not in GROUP_SCALES:
        raise ValueError(f"scale={scale!r} is not accepted; accepted: {', '.join(GROUP_SCALES)}")
    if scores.dim() == 2:
        if group_size is not None and group_size != scores.shape[1]:
            raise ValueError(f"scores are [P, n] = {list(scores.shape)} but group_size={group_size}; "
                             "give group_size=None or n")
        groups = scores
    elif scores.dim() == 1:
        if group_size is None or group_size < 1 or scores.numel() % group_size:
            raise ValueError(f"{scores.numel()} scores in a row need group_size (the samples per prompt) that "
                             f"divides them; got group_size={group_size}")
        groups = scores.reshape(-1, group_size)
    else:
        raise ValueError(f"scores must be [P, n] or [P*n]; got shape {list(scores.shape)}")
    if groups.shape[1] < 2:
        raise ValueError("group advantages need at least 2 samples per prompt (a group of 1 has nothing to "
                         f"compare with); got {groups.shape[1]}")
    g = groups.double()
    adv = g - g.mean(dim=1, keepdim=True)
    if scale == "std":
        adv = adv / (g.std(dim=1, keepdim=True) + eps)
    flat = (g == g[:, :1]).all(dim=1, keepdim=True)
    return torch.where(flat, torch.zeros_like(adv), adv).float().reshape(-1)


def sequence_advantages(per_sequence: Tensor, mask: Tensor) -> Tensor:
    """One advantage per sequence on every masked (sampled) token: per_sequence [B], mask [B, T] -> [B, T].

    Forced tokens (mask 0, e.g. a budget's `</think>`) and padding get 0.
    """
    if per_sequence.shape != mask.shape[:1]:
        raise ValueError(f"{list(per_sequence.shape)} advantages for {mask.shape[0]} sequences")
    return per_sequence.float()[:, None].to(mask.device) * mask.float()
