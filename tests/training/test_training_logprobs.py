"""Memory-light log-probs: selected tokens only, chunked, at the rollout's temperature and top-p."""

import contextlib
import types
from functools import partial

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mgrd.inference.sampling import filter_top_k_top_p
from mgrd.training.losses import LOGPROB_FLOOR, selective_logprobs

V, H = 50, 8


def behaviour_logprobs(logits, labels, temperature, top_p):
    """The sampler's distribution written out: logits / T, top-p filter, log-softmax (mgrd.inference.sampling)."""
    flat = logits.reshape(-1, logits.shape[-1]) / temperature
    n = flat.shape[0]
    flat = filter_top_k_top_p(flat, torch.zeros(n, dtype=torch.long), torch.full((n,), top_p))
    return torch.log_softmax(flat, -1).gather(-1, labels.reshape(-1, 1)).reshape(labels.shape)


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.7, 1.0), (0.7, 0.9)])
def test_selective_logprobs_equal_the_full_computation_values_and_gradients(temperature, top_p):
    torch.manual_seed(0)
    head = torch.nn.Linear(H, V, bias=False)
    hidden = torch.randn(3, 7, H, requires_grad=True)
    labels = torch.randint(0, V, (3, 7))
    mask = (torch.rand(3, 7) > 0.4).float()
    full = behaviour_logprobs(head(hidden), labels, temperature, top_p).clamp(min=LOGPROB_FLOOR) * mask
    (full * torch.linspace(0.5, 2.0, 7)).sum().backward()
    want_h, want_w = hidden.grad.clone(), head.weight.grad.clone()
    hidden.grad, head.weight.grad = None, None
    for chunk in (1, 4, 1000):
        got, ent = selective_logprobs(hidden, head, labels=labels, mask=mask, temperature=temperature,
                                      top_p=top_p, chunk=chunk)
        assert ent is None
        torch.testing.assert_close(got, full.detach(), rtol=1e-6, atol=1e-6)
        (got * torch.linspace(0.5, 2.0, 7)).sum().backward()
        torch.testing.assert_close(hidden.grad, want_h, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(head.weight.grad, want_w, rtol=1e-5, atol=1e-6)
        hidden.grad, head.weight.grad = None, None


def test_entropy_is_the_filtered_distributions_and_gradient_free_when_asked():
    torch.manual_seed(1)
    head = torch.nn.Linear(H, V, bias=False)
    hidden = torch.randn(2, 5, H, requires_grad=True)
    labels, mask = torch.randint(0, V, (2, 5)), torch.ones(2, 5)
    _, ent = selective_logprobs(hidden, head, labels=labels, mask=mask, temperature=0.5, top_p=0.8,
                                with_entropy=True, chunk=3)
    logits = filter_top_k_top_p((head(hidden) / 0.5).reshape(10, V), torch.zeros(10, dtype=torch.long),
                                torch.full((10,), 0.8))
    p = logits.softmax(-1)
    want = -(p * torch.log(p.clamp(min=1e-30))).sum(-1).reshape(2, 5)
    torch.testing.assert_close(ent.detach(), want.detach(), rtol=1e-5, atol=1e-6)
    assert ent.requires_grad
    _, ent0 = selective_logprobs(hidden, head, labels=labels, mask=mask, with_entropy=True, entropy_grad=False)
    assert not ent0.requires_grad        # a coefficient-0 metric builds no graph


class LogitRows(TorchDispatchMode):
    """Records the most vocabulary-wide rows ([..., V] tensors: logits and their kin) any op produces."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab, self.largest = vocab, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dim() >= 2 and t.shape[-1] == self.vocab:
                self.largest = max(self.largest, t.numel() // self.vocab)
        return out


def test_no_op_of_a_training_step_makes_batch_by_length_by_vocabulary_logits(micro_dir):
    from mgrd.model import load_pretrained

    model = load_pretrained(micro_dir).train()
    vocab = model.lm_head.weight.shape[0]
    hidden = model.lm_head.weight.shape[1]
    B, L, chunk = 4, 48, 64
    assert hidden <= chunk < B * L // 2
    ids = torch.randint(0, 200, (B, L))
    mask = torch.zeros(B, L)
    mask[:, L // 2:] = 1          # the response half: 96 selected tokens, in chunks of 64 and 32
    with LogitRows(vocab) as seen:
        logp, _ = model(ids, head_fn=partial(selective_logprobs, labels=ids.roll(-1, 1), mask=mask, chunk=chunk))
        logp.sum().backward()
    assert seen.largest == chunk, seen.largest
    with LogitRows(vocab) as full:
        model(ids).logits.sum().backward()
    assert full.largest == B * L                  # the recorder sees the full logits when they are made


def test_trainer_old_logprobs_are_the_behaviour_policys_at_temperature_0_7_top_p_0_9(micro_dir, tokenizer):
    from mgrd.chat import NO_THINK_PREFILL
    from mgrd.inference import Prompt
    from mgrd.model import load_pretrained
    from mgrd.training.config import PPOConfig, SourceConfig
    from mgrd.training.critic import Critic
    from mgrd.training.ppo import _rl_batch, _score
    from mgrd.training.rewards import Reward
    from mgrd.training.rollout import NativeRollout, collect, sampling_params

    model = load_pretrained(micro_dir).train()
    backend = NativeRollout(model, tokenizer)
    assert model.training                     # the engine's eval() is undone by the rollout
    prompt = Prompt(tuple(tokenizer.encode("<|BOT|>human\nname a colour<|EOT|><|BOT|>assistant\n<think>\n")))
    params = [sampling_params(4, max_tokens=12, temperature=0.7, top_p=0.9, thinking_budget=None, seed=3)]
    samples = collect(backend, [prompt], [{}], params, lambda c, r: Reward(0.0, {}),
                      close_ids=tokenizer.encode(NO_THINK_PREFILL))
    assert model.training                     # and stays undone after generating
    cfg = PPOConfig(model="m", prompts=[SourceConfig("p.jsonl")],
                    temperature=0.7, top_p=0.9, logprob_chunk=5)
    sp = tokenizer.special
    audio = frozenset({sp.audio_start, sp.audio_end, sp.audio_patch})
    run = types.SimpleNamespace(device=torch.device("cpu"), autocast=contextlib.nullcontext)
    scored = _score(model, Critic(load_pretrained(micro_dir)), None, samples, sp.endoftext, audio, 0, run, cfg)
    b = _rl_batch(samples, sp.endoftext, audio)
    with torch.no_grad():
        raw = model(b.input_ids, attention_mask=b.attention_mask).logits
    want = behaviour_logprobs(raw, b.labels.clamp(min=0), 0.7, 0.9)
    m = b.loss_mask.bool()
    torch.testing.assert_close(scored["old"][m], want[m], rtol=1e-5, atol=1e-5)
    assert (scored["old"][m] > LOGPROB_FLOOR).all()      # every sampled token is inside the sampler's top-p set
    # The engine's own log-probs (temperature 1, unfiltered) come from the same forward: rows whose sampled
    # tokens hold no audio token (those are fed to training as padding) match them.
    t1 = torch.log_softmax(raw, -1).gather(-1, b.labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    plain = [i for i, smp in enumerate(samples) if not audio & set(smp.input_ids[-smp.response_tokens:])]
    assert plain
    for i in plain:
        torch.testing.assert_close(t1[i][m[i]], torch.tensor(samples[i].engine_logprobs), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(scored["old"][m], t1[m], atol=1e-3)   # temperature 0.7 is not temperature 1
