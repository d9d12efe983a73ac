"""PPO on verifiable rewards: rollouts -> rewards -> advantages -> epochs of clipped minibatch updates.

The advantage estimator is chosen once, at setup (`PPOConfig.advantage`): "gae" learns a critic
(values -> GAE, the paper's PPO); "grpo" normalises each prompt's rewards over its samples and
builds no critic at all (no model, optimizer, value loss or checkpoint file for one).
"""

from __future__ import annotations

import contextvars
import importlib
import random
from collections.abc import Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch

from mgrd.chat import NO_THINK_PREFILL
from mgrd.model import load_pretrained
from mgrd.training.advantages import final_token_rewards, gae, group_advantages, sequence_advantages, whiten
from mgrd.training.config import PPOConfig
from mgrd.training.data import Example, MixedDataset, collate, encode_rl_prompt, split_micro
from mgrd.training.distributed import GatheredState, all_reduce, shard
from mgrd.training.lora import MergedState
from mgrd.training.losses import approx_kl, kl_penalty, masked_sum, ppo_policy_loss, selective_logprobs, value_loss
from mgrd.training.metrics import decoder_matmul_params
from mgrd.training.optim import build_optimizer, clip_gradients
from mgrd.training.rewards import Grader, RewardWeights, reference_grader, reward_function
from mgrd.training.rollout import NativeRollout, RewardFn, RolloutBackend, Sample, collect, sampling_params
from mgrd.training.schedule import set_lr, warmup_cosine
from mgrd.training.sft import StepHook, TrainResult
from mgrd.training.stage import StageRun


_CUSTOM_GRADERS = contextvars.ContextVar("mgrd_custom_graders_allowed", default=False)


@contextmanager
def custom_graders_allowed(allowed: bool = True):
    """Within this block `load_grader` imports graders outside mgrd (`--allow-custom-grader`)."""
    token = _CUSTOM_GRADERS.set(allowed)
    try:
        yield
    finally:
        _CUSTOM_GRADERS.reset(token)


def load_grader(spec: str) -> Grader:
    """`reference` (mgrd's default answer matching) or `package.module:function`.

    Importing a module runs its code, and recipes get shared: only mgrd's own modules are
    imported, unless inside `custom_graders_allowed()`.
    """
    if spec == "reference":
        return reference_grader
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"grader {spec!r}: accepted 'reference' or 'package.module:function'")
    if not (module == "mgrd" or module.startswith("mgrd.")) and not _CUSTOM_GRADERS.get():
        raise ValueError(f"grader {spec!r} would import module {module!r}, which runs its code; only mgrd's "
                         "graders ('reference', 'mgrd.…:function') are loaded from a config unless you pass "
                         "--allow-custom-grader")
    grader = getattr(importlib.import_module(module), name, None)
    if not callable(grader):
        raise ValueError(f"grader {spec!r}: module {module!r} has no function {name!r}")
    return grader


def _rl_batch(samples: list[Sample], pad_id: int, audio_ids: frozenset[int]):
    """Label-aligned tensors of samples: position t scores token t+1 (as in SFT collation).

    A random policy can sample an audio token; as an input it would claim an audio slot, so it
    is fed as padding (its label, and so its log-probability and penalty, stay).
    """
    examples = [Example(s.input_ids, s.response_mask, s.audio_mels) for s in samples]
    batch = collate(examples, pad_id)
    for b, s in enumerate(samples):
        n_prompt = len(s.input_ids) - s.response_tokens
        for t in range(n_prompt, len(s.input_ids)):
            if s.input_ids[t] in audio_ids:
                batch.input_ids[b, t] = pad_id
    return batch


def _rollout_dtype(cfg: PPOConfig, device: torch.device) -> torch.dtype:
    if cfg.rollout_dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, cfg.rollout_dtype)


def _check_prompt_lengths(prompts, keys, cfg: PPOConfig) -> None:
    room = cfg.max_length - cfg.max_new_tokens
    for prompt, key in zip(prompts, keys):
        if len(prompt.input_ids) > room:
            raise ValueError(f"prompt {key} has {len(prompt.input_ids)} tokens, more than max_length - max_new_tokens "
                             f"= {cfg.max_length} - {cfg.max_new_tokens} = {room}; raise max_length or shorten it")


def _logprobs(model, b, cfg: PPOConfig, *, with_entropy: bool = False, entropy_grad: bool = True):
    """Response-token log-probs (and entropies) of batch `b` under the rollouts' sampling distribution."""
    return model(b.input_ids, b.audio_mels or None, attention_mask=b.attention_mask,
                 head_fn=partial(selective_logprobs, labels=b.labels, mask=b.loss_mask, temperature=cfg.temperature,
                                 top_p=cfg.top_p, chunk=cfg.logprob_chunk, with_entropy=with_entropy,
                                 entropy_grad=entropy_grad))


@torch.no_grad()
def _score(model, critic, ref, samples, pad_id, audio_ids, micro, run, cfg) -> dict[str, torch.Tensor]:
    """Old log-probs (actor), reference log-probs (when there is a reference) and values (when there is a
    critic), [N, L] each."""
    width = max(len(s.input_ids) for s in samples)
    keys = ("old", "mask") + (("values",) if critic is not None else ()) + (("ref",) if ref is not None else ())
    out = {k: torch.zeros(len(samples), width) for k in keys}
    row = 0
    for chunk in split_micro(samples, micro):
        b = _rl_batch(list(chunk), pad_id, audio_ids).to(run.device)
        n, w = b.input_ids.shape
        with run.autocast():
            out["old"][row:row + n, :w] = _logprobs(model, b, cfg)[0].cpu()
            if ref is not None:
                out["ref"][row:row + n, :w] = _logprobs(ref, b, cfg)[0].cpu()
            if critic is not None:
                v = critic(b.input_ids, b.audio_mels or None, attention_mask=b.attention_mask)
                out["values"][row:row + n, :w] = v.float().cpu()
        out["mask"][row:row + n, :w] = b.loss_mask.cpu()
        row += n
    return out


def train_ppo(cfg: PPOConfig, *, reward_fn: RewardFn | None = None, grader: Grader | None = None,
              backend: RolloutBackend | None = None, after_step: StepHook | None = None) -> TrainResult:
    """Run PPO iterations to cfg.iterations (resuming from the run directory's newest checkpoint), with a
    critic and GAE (`advantage: gae`) or group-normalised rewards and no critic (`advantage: grpo`).

    The reward is `reward_fn(completion, record)` if given, else cfg.reward bound to `grader`
    (else cfg.grader).
    """
    run = StageRun("ppo", cfg, data_digests={})
    info = run.info
    if cfg.prompts_per_iteration % info.world_size or cfg.minibatch_size % info.world_size:
        raise ValueError("prompts_per_iteration and minibatch_size must be divisible by the number of processes")
    if reward_fn is None:
        reward_fn = reward_function(cfg.reward, grader or load_grader(cfg.grader),
                                    RewardWeights(accuracy=cfg.accuracy_weight, format=cfg.format_weight))
    dataset = MixedDataset(cfg.prompts, batch_size=cfg.prompts_per_iteration, seed=cfg.run.seed,
                           encode_fn=lambda record, source, key: (record, key))
    run.fingerprint["data"] = dataset.digests
    model, tokenizer, ref, critic, replica = _models(cfg, run)
    if backend is None:
        backend = NativeRollout(replica if replica is not None else model, tokenizer,
                                max_batch_size=cfg.rollout_batch_size)
    actor_opt = build_optimizer(model, cfg.optim)
    critic_opt = build_optimizer(critic, cfg.critic_optim) if critic is not None else None
    optimizers = {"actor": (model, actor_opt), **({"critic": (critic, critic_opt)} if critic is not None else {})}
    modules = {"critic": critic} if critic is not None else {}
    start, _ = run.resume(model, optimizers=optimizers, modules=modules)
    log = run.metrics(cfg.iterations, start, show=("reward", "accuracy"))
    pad = tokenizer.special.endoftext
    close_ids = tokenizer.encode(NO_THINK_PREFILL)
    sp = tokenizer.special
    audio_ids = frozenset({sp.audio_start, sp.audio_end, sp.audio_patch})
    history: list[dict] = []
    flops_params = decoder_matmul_params(model)
    it = start
    with run.stop:
        while it < cfg.iterations:
            mult = warmup_cosine(it, warmup_steps=cfg.optim.warmup_steps, total_steps=cfg.iterations,
                                 min_ratio=cfg.optim.min_lr_ratio)
            lr = set_lr(actor_opt, cfg.optim.lr, mult)
            if critic_opt is not None:
                set_lr(critic_opt, cfg.critic_optim.lr, mult)
            # ---- rollouts and rewards
            records, prompts, params = _rollout_requests(cfg, dataset, tokenizer, it, info)
            backend.sync_weights(None if replica is None else MergedState(model) if cfg.lora else GatheredState(model))
            samples = collect(backend, prompts, records, params, reward_fn, close_ids=close_ids)
            # ---- log-probs, values and advantages
            scored = _score(model, critic, ref, samples, pad, audio_ids, cfg.score_batch_size or cfg.micro_batch_size,
                            run, cfg)
            advantages, returns, adv_stats = _advantages(cfg, samples, scored)
            # ---- updates
            stats = _update(cfg, run, model, critic, actor_opt, critic_opt, samples, scored, advantages, returns,
                            pad, audio_ids, it)
            it += 1
            metrics = _iteration_metrics(samples, scored, {**adv_stats, **stats}, lr, flops_params, cfg)
            history.append(metrics)
            if it % cfg.run.log_every == 0 or it == cfg.iterations:
                log.log(it, metrics)
            log.advance()
            stopping = run.stop.should_stop()
            if it % cfg.run.save_every == 0 or it == cfg.iterations or stopping:
                run.save(it, model, tokenizer, optimizers=optimizers, modules=modules,
                         extra={"data_position": it * cfg.prompts_per_iteration, "lr": lr})
            if after_step is not None:
                after_step(it, metrics)
            if stopping:
                log.close()
                return TrainResult(run.dir, it, True, history)
    log.close()
    return TrainResult(run.dir, it, False, history, run.export(model, tokenizer))


def _models(cfg: PPOConfig, run: StageRun):
    """(policy, tokenizer, reference or None, critic or None, rollout replica or None), sharded under FSDP.

    The paper's setting (kl_coef 0) needs no reference model; GRPO's baseline is the group mean, so it
    builds no critic. Under FSDP the engine decodes from a replica refreshed one gathered parameter at
    a time (GatheredState): bf16 on GPU, the one full copy a process holds (mgrd plan counts it). With
    LoRA too: the engine reads plain weights, so the replica gets W + s·BA (MergedState).
    """
    info = run.info
    model, tokenizer = run.load_model(cfg.model, lora=cfg.lora)
    if cfg.lora is None:
        model.set_trainable(encoder=False, adaptor=True, decoder=True)
    ref = run.load_reference(cfg.model, model) if cfg.kl_coef > 0 else None
    critic = None
    if cfg.advantage == "gae":
        critic, _ = run.load_model(cfg.model, critic=True, lora=cfg.lora)
        critic = shard(critic, info).train()
    replica = load_pretrained(cfg.model, dtype=_rollout_dtype(cfg, run.device), device=run.device,
                              tokenizer_special_ids=tokenizer.special) \
        if info.distributed or cfg.lora is not None else None
    return shard(model, info).train(), tokenizer, ref, critic, replica


def _rollout_requests(cfg: PPOConfig, dataset: MixedDataset, tokenizer, it: int, info):
    """(records, engine prompts, sampling params) of iteration `it`'s share for this process; each
    prompt's n samples are seeded from the run seed and the prompt's global index."""
    picks = dataset.batch(it, rank=info.rank, world_size=info.world_size)
    records = [r for r, _ in picks]
    prompts = [encode_rl_prompt(r, tokenizer) for r in records]
    _check_prompt_lengths(prompts, [k for _, k in picks], cfg)
    first = it * cfg.prompts_per_iteration + info.rank * len(records)
    params = [sampling_params(cfg.samples_per_prompt, max_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                              top_p=cfg.top_p, thinking_budget=cfg.thinking_budget,
                              seed=(cfg.run.seed * 1_000_003 + first + i) % 2**62)
              for i in range(len(records))]
    return records, prompts, params


def _advantages(cfg: PPOConfig, samples: list[Sample],
                scored: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, float]]:
    """[N, L] advantages of this process's samples, GAE's [N, L] returns (None for GRPO) and their metrics.

    GRPO's groups are the `samples_per_prompt` consecutive samples of each prompt (`collect` lays
    rollouts out prompt-major); a process holds whole groups, so no group spans processes.
    """
    mask = scored["mask"]
    scores = torch.tensor([s.reward.value for s in samples], dtype=torch.float32)
    if cfg.advantage == "grpo":
        n = cfg.samples_per_prompt
        order = [s.prompt_index for s in samples]
        if len(samples) % n or order != [i // n for i in range(len(samples))]:
            raise RuntimeError(f"GRPO needs each prompt's {n} samples together, prompt by prompt; the rollout "
                               f"backend returned prompt indices {order}")
        per_sequence = group_advantages(scores, n, scale=cfg.grpo_scale, eps=cfg.grpo_eps)
        groups = scores.reshape(-1, n)
        flat = float((groups == groups[:, :1]).all(dim=1).sum())
        share = float(all_reduce(flat)) / max(float(all_reduce(groups.shape[0])), 1.0)
        return sequence_advantages(per_sequence, mask), None, {"zero_advantage_groups": share}
    advantages, returns = gae(final_token_rewards(scores, mask), scored["values"], mask, gamma=cfg.gamma,
                              lam=cfg.lam)
    if cfg.whiten_advantages:
        advantages = whiten(advantages, mask)
    return advantages, returns, {}


def _update(cfg, run, model, critic, actor_opt, critic_opt, samples, scored, advantages, returns, pad, audio_ids,
            it):
    """`cfg.epochs` passes of shuffled minibatches over this iteration's samples (the critic's too when
    there is one; `returns` is None without)."""
    info = run.info
    local_mb = cfg.minibatch_size // info.world_size
    order_rng = random.Random(f"{cfg.run.seed}:ppo:{it}")
    keys = ("policy_loss", "entropy", "clip_frac", "approx_kl", "kl_ref", "tokens", "grad_norm", "updates")
    keys += ("value_loss", "critic_grad_norm") if critic is not None else ()
    totals: dict[str, float] = {k: 0.0 for k in keys}
    for epoch in range(cfg.epochs):
        order = list(range(len(samples)))
        order_rng.shuffle(order)
        for start in range(0, len(order), local_mb):
            idx = order[start:start + local_mb]
            n_tokens = all_reduce(float(scored["mask"][idx].sum()))
            actor_opt.zero_grad(set_to_none=True)
            if critic is not None:
                critic_opt.zero_grad(set_to_none=True)
            for micro in split_micro(idx, cfg.micro_batch_size):
                micro = list(micro)
                b = _rl_batch([samples[i] for i in micro], pad, audio_ids).to(run.device)
                w = b.input_ids.shape[1]
                old = scored["old"][micro, :w].to(run.device)
                adv = advantages[micro, :w].to(run.device)
                m = b.loss_mask
                with run.autocast():
                    logp, ent_tokens = _logprobs(model, b, cfg, with_entropy=True,
                                                 entropy_grad=cfg.entropy_coef > 0)
                pg, clip_frac = ppo_policy_loss(logp, old, adv, m, clip=cfg.clip, num_tokens=n_tokens)
                ent = masked_sum(ent_tokens, m) / m.sum().clamp(min=1)
                share = float(m.sum()) / max(float(n_tokens), 1.0)
                loss = pg
                if cfg.entropy_coef > 0:
                    loss = loss - cfg.entropy_coef * ent * share
                if "ref" in scored:
                    kl = kl_penalty(logp, scored["ref"][micro, :w].to(run.device), m, num_tokens=n_tokens)
                    loss = loss + cfg.kl_coef * kl
                    totals["kl_ref"] += float(kl.detach())
                (loss * info.world_size).backward()
                if critic is not None:
                    with run.autocast():
                        values = critic(b.input_ids, b.audio_mels or None, attention_mask=b.attention_mask)
                    vl = value_loss(values, scored["values"][micro, :w].to(run.device),
                                    returns[micro, :w].to(run.device), m, clip=cfg.value_clip, num_tokens=n_tokens)
                    (vl * info.world_size).backward()
                    totals["value_loss"] += float(vl.detach())
                totals["policy_loss"] += float(pg.detach())
                totals["entropy"] += float(ent.detach()) * share
                totals["clip_frac"] += float(clip_frac) * share
                totals["approx_kl"] += float(approx_kl(logp.detach(), old, m)) * share
            totals["grad_norm"] += clip_gradients(model, cfg.optim.grad_clip)
            actor_opt.step()
            if critic is not None:
                totals["critic_grad_norm"] += clip_gradients(critic, cfg.critic_optim.grad_clip)
                critic_opt.step()
            totals["updates"] += 1
            totals["tokens"] += float(n_tokens)
    n = max(totals.pop("updates"), 1.0)
    tokens = totals.pop("tokens")
    if cfg.kl_coef <= 0:
        totals.pop("kl_ref")   # no reference model: nothing to measure against
    out = {k: float(all_reduce(v)) / n / (info.world_size if k.endswith("grad_norm") else 1.0)
           for k, v in totals.items()}
    out["updated_tokens"] = tokens
    return out


def _iteration_metrics(samples: list[Sample], scored: Mapping[str, torch.Tensor], stats: dict[str, Any],
                       lr: float, flops_params: int, cfg: PPOConfig) -> dict:
    n = float(all_reduce(len(samples)))

    def mean(values) -> float:
        return float(all_reduce(float(sum(values)))) / max(n, 1.0)

    gap = []
    for s, row, m in zip(samples, scored["old"], scored["mask"]):
        sampled = [lp for lp, keep in zip(s.engine_logprobs, s.response_mask[-len(s.engine_logprobs):]) if keep]
        gap += [abs(a - b) for a, b in zip(sampled, row[m.bool()].tolist())]
    seq_tokens = float(all_reduce(sum(len(s.input_ids) for s in samples)))
    trained = 2 if "values" in scored else 1       # actor (and critic)
    forwards = trained + (1 if "ref" in scored else 0)   # scoring: the trained models (and the reference)
    # The engine reports log-probs at temperature 1 without filtering: comparable only then.
    comparable = cfg.temperature == 1.0 and cfg.top_p == 1.0
    return {
        "reward": mean(s.reward.value for s in samples),
        "accuracy": mean(s.reward.components.get("accuracy", 0.0) for s in samples),
        "format": mean(s.reward.components.get("format", 0.0) for s in samples),
        "reasoning_tokens": mean(s.reasoning_tokens for s in samples),
        "response_tokens": mean(s.response_tokens for s in samples),
        "truncated": mean(s.finish_reason == "length" for s in samples),
        **({"rollout_logprob_gap": float(sum(gap) / max(len(gap), 1))} if comparable else {}),
        "advantage": cfg.advantage,   # the estimator that ran: "gae" (critic) or "grpo" (group baseline)
        "lr": lr, **stats,
        # forward-only scoring (actor, critic, reference when kl_coef > 0: 2N each) + epochs x (actor, critic) x 6N
        "flops": (2.0 * forwards + cfg.epochs * 6.0 * trained) * flops_params * seq_tokens,
    }

