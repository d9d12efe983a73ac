"""GRPO: group-normalised advantages by hand, and the trainer with no critic (loss inputs, files, exact resume)."""

import math

import pytest
import torch

from mgrd.model import load_pretrained
from mgrd.training import checkpoint as ckpt
from mgrd.training import ppo as ppo_module
from mgrd.training.advantages import group_advantages, sequence_advantages
from mgrd.training.config import PPOConfig, from_dict
from mgrd.training.ppo import train_ppo

from conftest import Scripted, first_half_grader, killed_and_resumed, ppo_cfg, write_jsonl

EPS = 1e-6


# ---- the pure functions ---------------------------------------------------------------------------
def test_group_advantages_std_and_none_by_hand():
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0,      # prompt 0
                           1.0, 0.0, 0.0, 0.0])     # prompt 1
    # prompt 0: mean 0.5, deviations ±0.5; sample variance 4 x 0.25 / 3 = 1/3, std 1/sqrt(3) = 0.57735
    # prompt 1: mean 0.25, deviations 0.75, -0.25 x 3; variance (0.5625 + 3 x 0.0625) / 3 = 0.25, std 0.5
    s0, s1 = 1 / math.sqrt(3) + EPS, 0.5 + EPS
    want_std = [0.5 / s0, -0.5 / s0, -0.5 / s0, 0.5 / s0,          # ±0.866025
                0.75 / s1, -0.25 / s1, -0.25 / s1, -0.25 / s1]     # 1.5, -0.5, -0.5, -0.5
    got = group_advantages(scores, 4, scale="std", eps=EPS)
    torch.testing.assert_close(got, torch.tensor(want_std), rtol=0, atol=1e-6)
    assert got[0] == pytest.approx(0.866025, abs=1e-5) and got[4] == pytest.approx(1.5, abs=1e-5)
    # Dr. GRPO: mean-centred, not scaled
    got = group_advantages(scores, 4, scale="none")
    torch.testing.assert_close(got, torch.tensor([0.5, -0.5, -0.5, 0.5, 0.75, -0.25, -0.25, -0.25]))
    # [P, n] rows give the same values, flattened prompt-major
    torch.testing.assert_close(group_advantages(scores.reshape(2, 4), scale="std", eps=EPS),
                               torch.tensor(want_std), rtol=0, atol=1e-6)


def test_a_group_of_equal_rewards_gets_zero_advantage():
    # a format-only reward (0.2) for all three samples of prompt 0; prompt 1: 1.0, 0.2, 0.2
    scores = torch.tensor([[0.2, 0.2, 0.2], [1.0, 0.2, 0.2]])
    for scale in ("std", "none"):
        got = group_advantages(scores, scale=scale, eps=EPS)
        assert got[:3].tolist() == [0.0, 0.0, 0.0]
    # in float64, 0.1 + 0.1 + 0.1 = 0.30000000000000004 and its third is not 0.1: still exactly 0
    tenths = torch.tensor([0.1, 0.1, 0.1], dtype=torch.float64)
    assert group_advantages(tenths, 3, scale="std", eps=EPS).tolist() == [0.0, 0.0, 0.0]
    # prompt 1: mean 1.4 / 3 = 0.46667; deviations 0.53333, -0.26667, -0.26667; sample variance
    # (0.284444 + 2 x 0.071111) / 2 = 0.213333, std 0.461880 -> 1.154701, -0.577350, -0.577350
    got = group_advantages(scores, scale="std", eps=EPS)
    torch.testing.assert_close(got[3:], torch.tensor([1.154701, -0.577350, -0.577350]), rtol=0, atol=1e-5)


def test_sequence_advantages_leave_forced_tokens_and_padding_at_zero():
    # sequence 0: 2 sampled reasoning tokens, 2 forced (`</think>`), 1 sampled answer token
    # sequence 1: 1 prompt token, 2 sampled tokens, 2 padding
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0],
                         [0.0, 1.0, 1.0, 0.0, 0.0]])
    got = sequence_advantages(torch.tensor([1.5, -0.5]), mask)
    assert got.tolist() == [[1.5, 1.5, 0.0, 0.0, 1.5], [0.0, -0.5, -0.5, 0.0, 0.0]]


@pytest.mark.parametrize("call, words", [
    (lambda: group_advantages(torch.zeros(6), 4), ["6 scores", "group_size=4"]),
    (lambda: group_advantages(torch.zeros(6)), ["group_size=None"]),
    (lambda: group_advantages(torch.zeros(2, 3), 2), ["[2, 3]", "group_size=2"]),
    (lambda: group_advantages(torch.zeros(3, 1)), ["at least 2 samples"]),
    (lambda: group_advantages(torch.zeros(2, 2, 2)), ["[P, n] or [P*n]"]),
    (lambda: group_advantages(torch.zeros(4), 2, scale="mad"), ["scale='mad'", "std, none"]),
    (lambda: sequence_advantages(torch.zeros(3), torch.ones(2, 4)), ["3", "2 sequences"]),
])
def test_bad_group_inputs_are_refused_clearly(call, words):
    with pytest.raises(ValueError) as e:
        call()
    assert all(w in str(e.value) for w in words), str(e.value)


# ---- the trainer ------------------------------------------------------------------------------------
def _spy_policy_loss(monkeypatch):
    """Record (advantages, mask) of every call of the clipped policy loss inside the trainer."""
    seen = []
    real = ppo_module.ppo_policy_loss

    def spy(logp, old, adv, mask, **kw):
        seen.append((adv.detach().clone(), mask.detach().clone()))
        return real(logp, old, adv, mask, **kw)

    monkeypatch.setattr(ppo_module, "ppo_policy_loss", spy)
    return seen


def test_grpo_trainer_feeds_group_normalised_advantages_and_builds_no_critic(micro_dir, tokenizer, tmp_path,
                                                                               monkeypatch):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [
        {"messages": [{"role": "user", "content": "Which?"}], "answer": "B"},
        {"messages": [{"role": "user", "content": "Which one?"}], "answer": "Z"}])   # no part answers Z
    cfg = from_dict(PPOConfig, {"model": str(micro_dir), "prompts": [{"path": str(prompts)}], "iterations": 1,
                                "prompts_per_iteration": 2, "samples_per_prompt": 3, "max_new_tokens": 16,
                                "reward": "audio", "epochs": 1, "minibatch_size": 6, "advantage": "grpo",
                                "optim": {"lr": 1e-2}, "run": {"dir": str(tmp_path / "run"), "progress": False}})
    parts = [("ab", "B"), ("x", "C"), ("ab c", "B")]
    seen = _spy_policy_loss(monkeypatch)
    result = train_ppo(cfg, backend=Scripted(tokenizer, parts),
                       grader=lambda answer, record: float(answer == record["answer"]))
    m = result.history[0]
    # Rewards (eq. 7, 0.8 accuracy + 0.2 format; every part is well formed):
    #   prompt "B": 1.0, 0.2, 1.0 -> mean 0.73333, deviations 0.26667, -0.53333, 0.26667,
    #     sample variance (0.071111 + 0.284444 + 0.071111) / 2 = 0.213333, std 0.461880
    #     -> advantages 0.577350, -1.154701, 0.577350
    #   prompt "Z": 0.2, 0.2, 0.2 -> a flat group: advantage 0
    want = sorted([0.577350, -1.154701, 0.577350, 0.0, 0.0, 0.0])
    assert len(seen) == 1                       # one minibatch of the 6 samples, one micro-batch
    adv, mask = seen[0]
    n_sampled = [len(tokenizer.encode(r)) + len(tokenizer.encode(a)) + 1 for r, a in parts]   # + <|EOT|>
    assert sorted(mask.sum(dim=1).tolist()) == sorted(n_sampled * 2)   # forced `</think>` tokens not trained
    assert torch.all(adv[mask == 0] == 0)       # prompt, forced and padding positions carry no advantage
    per_row = []
    for row, keep in zip(adv, mask.bool()):
        values = row[keep]
        assert torch.all(values == values[0])   # one outcome advantage on every sampled token
        per_row.append(float(values[0]))
    assert sorted(per_row) == pytest.approx(want, abs=1e-5)
    # first update: ratio 1, so the token-level loss is -sum(A over sampled tokens) / tokens
    tokens = float(mask.sum())
    assert m["policy_loss"] == pytest.approx(-float((adv * mask).sum()) / tokens, abs=1e-6)
    assert m["advantage"] == "grpo" and m["zero_advantage_groups"] == 0.5
    assert m["reward"] == pytest.approx((1.0 + 0.2 + 1.0 + 3 * 0.2) / 6)
    assert not {"value_loss", "critic_grad_norm"} & set(m)
    # no critic anywhere on disk; the policy moved
    saved = ckpt.latest_checkpoint(tmp_path / "run")
    assert sorted(p.name for p in saved.iterdir() if "critic" in p.name) == []
    assert not list((tmp_path / "run").rglob("*critic*"))
    state = ckpt.load_checkpoint(saved)
    assert state.modules == {} and set(state.optimizers) == {"actor"}
    start = load_pretrained(micro_dir).state_dict()
    trained = load_pretrained(result.model_dir).state_dict()
    assert any(not torch.equal(start[k], trained[k]) for k in start if not k.startswith("encoder."))


def test_grpo_raises_the_reward_on_a_toy_task(micro_dir, prompts, tmp_path):
    result = train_ppo(ppo_cfg(micro_dir, prompts, tmp_path / "run", advantage="grpo"), grader=first_half_grader)
    rewards = [h["reward"] for h in result.history]
    assert rewards[0] < 0.45                       # a random policy: ~26 % of its tokens qualify
    assert sum(rewards[-3:]) / 3 > 0.8, rewards
    assert all(h["advantage"] == "grpo" for h in result.history)


def test_grpo_with_dr_grpo_scale_trains(micro_dir, prompts, tmp_path):
    cfg = ppo_cfg(micro_dir, prompts, tmp_path / "run", advantage="grpo", grpo_scale="none", iterations=2)
    result = train_ppo(cfg, grader=first_half_grader)
    assert len(result.history) == 2 and all(math.isfinite(h["policy_loss"]) for h in result.history)


def test_grpo_resume_is_bit_identical(micro_dir, prompts, tmp_path):
    full = train_ppo(ppo_cfg(micro_dir, prompts, tmp_path / "a", iterations=4, advantage="grpo"),
                     grader=first_half_grader)

    resumed = killed_and_resumed(ppo_cfg(micro_dir, prompts, tmp_path / "b", iterations=4, advantage="grpo"))
    assert len(resumed.history) == 2
    for a, b in zip(full.history[2:], resumed.history):
        assert a["reward"] == b["reward"] and a["policy_loss"] == b["policy_loss"]
        assert a["zero_advantage_groups"] == b["zero_advantage_groups"]
    pa, pb = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "a")), \
        ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "b"))
    assert all(torch.equal(pa.model[k], pb.model[k]) for k in pa.model)
    assert pb.modules == {} and set(pb.optimizers) == {"actor"}


def test_a_gae_checkpoint_is_not_resumed_as_grpo(micro_dir, prompts, tmp_path):
    train_ppo(ppo_cfg(micro_dir, prompts, tmp_path / "run", iterations=2), grader=first_half_grader)
    with pytest.raises(ValueError, match="advantage"):
        train_ppo(ppo_cfg(micro_dir, prompts, tmp_path / "run", iterations=4, advantage="grpo"),
                  grader=first_half_grader)
