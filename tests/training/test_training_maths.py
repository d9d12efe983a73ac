"""Losses and advantages against numbers worked out by hand."""

import math

import pytest
import torch

from mgrd.training.advantages import final_token_rewards, gae, whiten
from mgrd.training.losses import (approx_kl, dpo_loss, entropy, kl_penalty, masked_token_ce, ppo_policy_loss,
                                  token_logprobs, value_loss)
from mgrd.training.schedule import warmup_cosine


def test_masked_token_ce_counts_only_masked_tokens():
    # Two classes; logits (0, ln 3) give p = (1/4, 3/4).
    logits = torch.tensor([[[0.0, math.log(3)], [0.0, math.log(3)], [5.0, -5.0]]])
    labels = torch.tensor([[1, 0, 1]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    expected = (-math.log(0.75) - math.log(0.25)) / 2       # = 0.836988
    assert float(masked_token_ce(logits, labels, mask)) == pytest.approx(expected, abs=1e-6)
    # A global divisor: this micro-batch's share of a 4-token batch.
    assert float(masked_token_ce(logits, labels, mask, num_tokens=4)) == pytest.approx(expected / 2, abs=1e-6)
    assert token_logprobs(logits, torch.tensor([[-100, 0, 1]]))[0, 0] == 0.0


def test_ppo_clipped_surrogate_by_hand():
    old = torch.zeros(1, 4)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1, 2.0]]))    # ratios 1.5, 0.5, 1.1, 2.0
    adv = torch.tensor([[1.0, 1.0, -2.0, 3.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    # per token max(-A r, -A clip(r)): t0: max(-1.5, -1.2) = -1.2 (clipped); t1: max(-0.5, -0.8) = -0.5;
    # t2: max(2.2, 2.2) = 2.2; t3 masked. Mean over 3 tokens = 0.5/3.
    loss, clip_frac = ppo_policy_loss(new, old, adv, mask, clip=0.2)
    assert float(loss) == pytest.approx(0.5 / 3, abs=1e-6)
    assert float(clip_frac) == pytest.approx(1 / 3, abs=1e-6)


def test_ppo_aggregates_tokens_not_sequences():
    # A 1-token sequence and a 3-token sequence, same per-token loss -A*r = -1 with r = 1.
    old = torch.zeros(2, 3)
    adv = torch.ones(2, 3)
    mask = torch.tensor([[1.0, 0, 0], [1.0, 1, 1]])
    loss, _ = ppo_policy_loss(old.clone(), old, adv, mask)
    assert float(loss) == pytest.approx(-1.0)
    adv2 = torch.tensor([[4.0, 0, 0], [0.0, 0, 0]])           # only the short sequence's token counts
    loss2, _ = ppo_policy_loss(old.clone(), old, adv2, mask)
    assert float(loss2) == pytest.approx(-4.0 / 4)            # one token of four: the long one weighs 3x


def test_value_loss_clipping_by_hand():
    values = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.5, 0.0]])
    returns = torch.tensor([[0.0, 1.0]])
    mask = torch.ones(1, 2)
    # t0: unclipped (1-0)^2 = 1, clipped 0.5+0.2=0.7 -> 0.49, max 1 -> 0.5; t1: (0-1)^2 = 1 both -> 0.5.
    assert float(value_loss(values, old, returns, mask, clip=0.2)) == pytest.approx(0.5, abs=1e-6)
    values2 = torch.tensor([[0.0, 0.0]])
    # t0: unclipped 0, clipped 0.5-0.2 = 0.3 -> 0.09, max -> 0.045; t1 0.5: mean (0.045 + 0.5)/2
    assert float(value_loss(values2, old, returns, mask, clip=0.2)) == pytest.approx(0.2725, abs=1e-6)


def test_gae_by_hand():
    values = torch.tensor([[0.5, 0.2, 0.9]])
    mask = torch.ones(1, 3)
    rewards = final_token_rewards(torch.tensor([1.0]), mask)
    assert rewards.tolist() == [[0.0, 0.0, 1.0]]
    adv, ret = gae(rewards, values, mask)               # γ = λ = 1: A_t = R - V_t
    assert adv[0].tolist() == pytest.approx([0.5, 0.8, 0.1])
    assert ret[0].tolist() == pytest.approx([1.0, 1.0, 1.0])
    # γ = 0.5, λ = 0.5: δ2 = 1 - 0.9 = 0.1, δ1 = 0 + 0.45 - 0.2 = 0.25, δ0 = 0.1 - 0.5 = -0.4
    # A2 = 0.1, A1 = 0.25 + 0.25*0.1 = 0.275, A0 = -0.4 + 0.25*0.275 = -0.33125
    adv, _ = gae(rewards, values, mask, gamma=0.5, lam=0.5)
    assert adv[0].tolist() == pytest.approx([-0.33125, 0.275, 0.1])


def test_gae_skips_unmasked_tokens():
    values = torch.tensor([[0.0, 0.3, 9.0, 0.6]])
    mask = torch.tensor([[0.0, 1.0, 0.0, 1.0]])         # prompt token, sampled, forced, sampled
    rewards = final_token_rewards(torch.tensor([1.0]), mask)
    assert rewards.tolist() == [[0.0, 0.0, 0.0, 1.0]]
    adv, _ = gae(rewards, values, mask)
    assert adv[0].tolist() == pytest.approx([0.0, 0.7, 0.0, 0.4])
    assert final_token_rewards(torch.tensor([1.0]), torch.zeros(1, 3)).sum() == 0


def test_dpo_loss_by_hand():
    chosen, rejected = torch.tensor([-1.0]), torch.tensor([-3.0])
    ref_c, ref_r = torch.tensor([-2.0]), torch.tensor([-2.0])
    # margin = 0.5 * ((-1 + 2) - (-3 + 2)) = 1.0; loss = -log σ(1) = log(1 + e^-1) = 0.313262
    loss, margins = dpo_loss(chosen, rejected, ref_c, ref_r, beta=0.5)
    assert float(margins[0]) == pytest.approx(1.0)
    assert float(loss) == pytest.approx(0.3132617, abs=1e-6)


def test_kl_entropy_and_drift_by_hand():
    logp = torch.log(torch.tensor([[0.5, 0.25]]))
    ref = torch.log(torch.tensor([[0.25, 0.25]]))
    mask = torch.ones(1, 2)
    # k3 at t0: d = ln(0.5) → e^d - d - 1 = 0.5 + 0.693147 - 1 = 0.193147; t1: 0. Mean 0.0965736
    assert float(kl_penalty(logp, ref, mask)) == pytest.approx(0.0965736, abs=1e-6)
    assert float(approx_kl(logp, ref, mask)) == pytest.approx(0.5 * math.log(2) ** 2 / 2, abs=1e-6)
    uniform = torch.zeros(1, 2, 4)
    assert float(entropy(uniform, mask)) == pytest.approx(math.log(4), abs=1e-6)


def test_whiten_and_schedule_by_hand():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    m = torch.tensor([[1.0, 1.0, 0.0]])
    assert whiten(x, m)[0].tolist() == pytest.approx([-1.0, 1.0, 0.0], abs=1e-4)
    assert warmup_cosine(0, warmup_steps=3, total_steps=13) == pytest.approx(0.25)
    assert warmup_cosine(3, warmup_steps=3, total_steps=13) == pytest.approx(1.0)
    # halfway through the cosine: 0.1 + 0.9 * 0.5 = 0.55
    assert warmup_cosine(8, warmup_steps=3, total_steps=13) == pytest.approx(0.55)
    assert warmup_cosine(20, warmup_steps=3, total_steps=13) == pytest.approx(0.1)
