"""PPO: the reward rises on a toy verifiable task; exact resume; rollouts carry masks and rewards."""

import pytest
import torch

from mgrd.chat import NO_THINK_PREFILL
from mgrd.training import checkpoint as ckpt
from mgrd.training.ppo import train_ppo
from mgrd.training.rewards import Reward

from conftest import first_half_grader, killed_and_resumed, ppo_cfg


def test_ppo_raises_the_reward_on_a_toy_task(micro_dir, prompts, tmp_path):
    result = train_ppo(ppo_cfg(micro_dir, prompts, tmp_path / "run"), grader=first_half_grader)
    rewards = [h["reward"] for h in result.history]
    assert rewards[0] < 0.45                       # a random policy: ~26 % of its tokens qualify
    assert sum(rewards[-3:]) / 3 > 0.8, rewards
    last = result.history[-1]
    for key in ("accuracy", "format", "reasoning_tokens", "clip_frac", "approx_kl", "value_loss", "entropy",
                "policy_loss"):
        assert key in last
    assert "kl_ref" not in last        # kl_coef 0 (the paper's): no reference model is loaded or measured
    assert last["rollout_logprob_gap"] < 1e-3   # engine and training forward agree


def test_ppo_resume_is_bit_identical(micro_dir, prompts, tmp_path):
    full = train_ppo(ppo_cfg(micro_dir, prompts, tmp_path / "a", iterations=4), grader=first_half_grader)

    resumed = killed_and_resumed(ppo_cfg(micro_dir, prompts, tmp_path / "b", iterations=4))
    assert len(resumed.history) == 2
    for a, b in zip(full.history[2:], resumed.history):
        assert a["reward"] == b["reward"] and a["policy_loss"] == b["policy_loss"]
        assert a["value_loss"] == b["value_loss"]
    pa, pb = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "a")), \
        ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "b"))
    assert all(torch.equal(pa.model[k], pb.model[k]) for k in pa.model)
    assert all(torch.equal(pa.modules["critic"][k], pb.modules["critic"][k]) for k in pa.modules["critic"])


def test_rollout_samples_hold_prompt_prefill_and_sampled_mask(micro_dir, tokenizer):
    from mgrd.model import load_pretrained
    from mgrd.inference import Prompt
    from mgrd.training.rollout import NativeRollout, collect, sampling_params

    model = load_pretrained(micro_dir)
    backend = NativeRollout(model, tokenizer)
    prompt = Prompt(tuple(tokenizer.encode("<|BOT|>human\nhi<|EOT|><|BOT|>assistant\n<think>\n")))
    seen = []

    def reward(completion, record):
        seen.append(completion)
        return Reward(1.0, {"accuracy": 1.0})

    close = tokenizer.encode(NO_THINK_PREFILL)
    params = [sampling_params(3, max_tokens=4, temperature=1.0, top_p=1.0, thinking_budget=0, seed=1)]
    samples = collect(backend, [prompt], [{}], params, reward, close_ids=close)
    assert len(samples) == 3
    for s, c in zip(samples, seen):
        assert c.startswith(NO_THINK_PREFILL) and s.completion == c
        n_prompt = len(prompt.input_ids) + len(close)
        assert s.input_ids[:n_prompt] == list(prompt.input_ids) + close
        assert s.response_mask == [0] * n_prompt + [1] * s.response_tokens
