"""Rollouts: n sampled completions per prompt from a generation backend, scored and made into sequences.

`RolloutBackend` is the one seam between the trainer and generation. The native engine is the only
one: the policy changes at every PPO update, so its rollouts need a backend that shares (or is sent)
the new weights each iteration. An in-process vLLM backend would need the Step-Audio-2 model class
(it lives in StepFun's fork and in vllm-omni, not in mainline vLLM), audio passed as the model's
multimodal input rather than log-mels, the thinking budget enforced (a logits processor that forces
`</think>`), per-token log-probs of the sampled tokens, and a weight update through vLLM V1's
public API (`collective_rpc` on the workers); none of it can be tested without vLLM, so it is not
shipped. The fixed-policy stages (self-distillation, curation, cognition sampling, evaluation) run
on any OpenAI-compatible server instead (`mgrd.inference.backend`, docs/pipeline.md).

A backend takes engine prompts and sampling params and returns, per prompt, n `Generation`s with
token ids, their log-probabilities and the sampled-token mask.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from mgrd.chat import NO_THINK_PREFILL
from mgrd.inference import Engine, Generation, Prompt, SamplingParams
from mgrd.training.rewards import Reward

RewardFn = Callable[[str, Mapping[str, Any]], Reward]


class RolloutBackend(Protocol):
    """Generates completions for the current policy."""

    def generate(self, prompts: Sequence[Prompt], params: Sequence[SamplingParams]) -> list[list[Generation]]:
        """`params[i].n` generations for prompt i."""

    def sync_weights(self, state: Mapping[str, torch.Tensor] | None) -> None:
        """Make the backend generate with the policy's current weights (None: it already shares them)."""


class NativeRollout:
    """The native engine over an AudioLM. In one process it shares the policy's parameters (no copy);
    under FSDP it holds a full replica that `sync_weights` refreshes from the gathered state."""

    def __init__(self, model, tokenizer, *, max_batch_size: int = 64) -> None:
        self.model = model
        was_training = model.training
        self.engine = Engine(model, tokenizer, max_batch_size=max_batch_size)   # the engine sets eval mode
        model.train(was_training)

    def generate(self, prompts: Sequence[Prompt], params: Sequence[SamplingParams]) -> list[list[Generation]]:
        was_training = self.model.training
        self.model.eval()
        try:
            return self.engine.generate(list(prompts), list(params))
        finally:
            self.model.train(was_training)

    def sync_weights(self, state: Mapping[str, torch.Tensor] | None) -> None:
        if state is not None:
            with torch.no_grad():
                own = self.model.state_dict()
                for k, v in state.items():
                    own[k].copy_(v)


@dataclass
class Sample:
    """One scored completion, ready for training.

    `input_ids` = prompt (+ the forced no-think prefill) + generated ids; `response_mask[t]` is 1
    for generated tokens that were sampled (forced tokens are not trained); `completion` is the
    text after `<think>\\n`, as the reward saw it.
    """

    prompt_index: int
    input_ids: list[int]
    response_mask: list[int]
    audio_mels: tuple[torch.Tensor, ...]
    engine_logprobs: list[float]
    reward: Reward
    completion: str
    reasoning_tokens: int
    response_tokens: int
    finish_reason: str


def sampling_params(n: int, *, max_tokens: int, temperature: float, top_p: float, thinking_budget: int | None,
                    seed: int) -> SamplingParams:
    return SamplingParams(n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                          thinking_budget=thinking_budget, seed=seed)


def collect(backend: RolloutBackend, prompts: Sequence[Prompt], records: Sequence[Mapping[str, Any]],
            params: Sequence[SamplingParams], reward_fn: RewardFn, *, close_ids: Sequence[int]) -> list[Sample]:
    """Generate, score and lay out the rollouts of `prompts` (prompt-major, sample-minor order)."""
    generations = backend.generate(prompts, params)
    samples = []
    for i, (prompt, record, p, gens) in enumerate(zip(prompts, records, params, generations)):
        prefill = list(close_ids) if p.thinking_budget == 0 else []
        for g in gens:
            completion = (NO_THINK_PREFILL if p.thinking_budget == 0 else "") + g.text
            reward = reward_fn(completion, record)
            if reward is None or reward.value is None:
                raise ValueError(f"the reward function returned no reward for prompt {i}; it must return a Reward")
            ids = list(prompt.input_ids) + prefill + list(g.token_ids)
            mask = [0] * (len(prompt.input_ids) + len(prefill)) + [int(s) for s in g.sampled_mask]
            samples.append(Sample(i, ids, mask, tuple(prompt.audio_mels), list(g.logprobs), reward, completion,
                                  g.num_reasoning_tokens, len(g.token_ids), g.finish_reason))
    return samples
