"""PPO on multi-token responses with a forced mid-sequence `</think>`: rollout -> GAE -> update, worked by hand."""

import pytest
import torch

from mgrd.chat import NO_THINK_PREFILL
from mgrd.training.advantages import final_token_rewards, gae
from mgrd.training.config import PPOConfig, from_dict
from mgrd.training.ppo import train_ppo

from conftest import Scripted, write_jsonl


def test_gae_skips_forced_tokens_by_hand():
    # response: 2 sampled reasoning tokens, 2 forced (`</think>`), 2 sampled answer tokens; reward 1 at the end
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0, 1.0]])
    values = torch.tensor([[0.5, 0.4, 9.0, 9.0, 0.2, 0.1]])
    rewards = final_token_rewards(torch.tensor([1.0]), mask)
    assert rewards.tolist() == [[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    torch.testing.assert_close(adv, torch.tensor([[0.5, 0.6, 0.0, 0.0, 0.8, 0.9]]))   # R - V_t
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.5)
    # t5: 1 - 0.1 = 0.9; t4: 0.9*0.1 - 0.2 + 0.45*0.9 = 0.295; t1 (next is t4): 0.9*0.2 - 0.4 + 0.45*0.295
    # = -0.08725; t0: 0.9*0.4 - 0.5 + 0.45*(-0.08725) = -0.1792625; forced t2, t3: 0
    want = torch.tensor([[-0.1792625, -0.08725, 0.0, 0.0, 0.295, 0.9]])
    torch.testing.assert_close(adv, want)
    torch.testing.assert_close(ret, (want + values) * mask)


def test_engine_marks_the_forced_close_as_not_sampled(micro_dir, tokenizer):
    from mgrd.inference import Prompt
    from mgrd.model import load_pretrained
    from mgrd.training.rewards import Reward
    from mgrd.training.rollout import NativeRollout, collect, sampling_params

    model = load_pretrained(micro_dir).train()
    backend = NativeRollout(model, tokenizer)
    close = tokenizer.encode(NO_THINK_PREFILL)
    prompt = Prompt(tuple(tokenizer.encode("<|BOT|>human\nhi<|EOT|><|BOT|>assistant\n<think>\n")))
    params = [sampling_params(4, max_tokens=8, temperature=1.0, top_p=1.0, thinking_budget=2, seed=5)]
    samples = collect(backend, [prompt], [{}], params, lambda c, r: Reward(0.0, {}), close_ids=close)
    long = [s for s in samples if s.response_tokens > 2 + len(close)]
    assert long and model.training
    for s in long:
        response, mask = s.input_ids[-s.response_tokens:], s.response_mask[-s.response_tokens:]
        assert response[2:2 + len(close)] == close
        assert mask == [1, 1] + [0] * len(close) + [1] * (s.response_tokens - 2 - len(close))


def test_ppo_update_on_forced_think_sequences_matches_the_hand_computation(micro_dir, tokenizer, tmp_path):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"messages": [{"role": "user", "content": "Which?"}],
                                                         "answer": "B"}])
    cfg = from_dict(PPOConfig, {"model": str(micro_dir), "prompts": [{"path": str(prompts)}], "iterations": 1,
                                "prompts_per_iteration": 1, "samples_per_prompt": 2, "max_new_tokens": 16,
                                "reward": "audio", "epochs": 1, "minibatch_size": 2, "micro_batch_size": 1,
                                "run": {"dir": str(tmp_path / "run"), "progress": False}})
    parts = [("ab", "B"), ("x", "C")]
    backend = Scripted(tokenizer, parts)
    result = train_ppo(cfg, backend=backend, grader=lambda answer, record: float(answer == record["answer"]))
    m = result.history[0]
    # rewards (eq. 7): 0.8 accuracy + 0.2 format; both have reasoning before one `</think>` and an answer
    rewards = [1.0, 0.2]
    n = [len(tokenizer.encode(r)) + len(tokenizer.encode(a)) + 1 for r, a in parts]   # sampled tokens (+ <|EOT|>)
    assert m["reward"] == pytest.approx(0.6) and m["format"] == 1.0 and m["accuracy"] == 0.5
    assert m["updated_tokens"] == sum(n)            # the forced `\n</think>\n` tokens are not trained
    # First update: ratio 1 and V = 0 (zero value head), so A_t = R on every sampled token and the
    # token-level losses are means over the 2 sequences' sampled tokens.
    assert m["policy_loss"] == pytest.approx(-(n[0] * rewards[0] + n[1] * rewards[1]) / sum(n), abs=1e-6)
    assert m["value_loss"] == pytest.approx(0.5 * (n[0] * rewards[0] ** 2 + n[1] * rewards[1] ** 2) / sum(n), abs=1e-6)
    assert m["clip_frac"] == 0.0 and m["approx_kl"] == pytest.approx(0.0, abs=1e-10)
    assert m["reasoning_tokens"] == pytest.approx(sum(len(tokenizer.encode(r)) for r, _ in parts) / 2)
