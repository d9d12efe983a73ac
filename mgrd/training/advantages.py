"""Advantage estimation as pure functions: outcome rewards on the final token, GAE, whitening."""

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
