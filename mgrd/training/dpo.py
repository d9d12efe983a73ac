"""DPO on preference pairs (chosen vs rejected completion of one prompt, with audio) against the frozen start model."""

from __future__ import annotations

from functools import partial

import torch

from mgrd.training.config import DPOConfig
from mgrd.training.data import Example, MixedDataset, collate, encode_pair, split_micro
from mgrd.training.distributed import all_reduce, shard
from mgrd.training.losses import dpo_loss, selective_logprobs
from mgrd.training.optim import build_optimizer, clip_gradients
from mgrd.training.schedule import set_lr, warmup_cosine
from mgrd.training.sft import StepHook, TrainResult
from mgrd.training.stage import StageRun


def sequence_logprobs(model, pairs: list[tuple[Example, Example]], pad_id: int, run,
                      chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed completion log-probs of the chosen and the rejected sides: ([P], [P]).

    Chosen and rejected rows go through the model as one batch (chosen rows first); only the
    completion tokens meet the lm_head, `chunk` at a time.
    """
    rows = [c for c, _ in pairs] + [r for _, r in pairs]
    batch = collate(rows, pad_id).to(run.device)
    with run.autocast():
        logp, _ = model(batch.input_ids, batch.audio_mels or None, attention_mask=batch.attention_mask,
                        head_fn=partial(selective_logprobs, labels=batch.labels, mask=batch.loss_mask, chunk=chunk))
    per_seq = (logp * batch.loss_mask).sum(-1)
    return per_seq[: len(pairs)], per_seq[len(pairs):]


def train_dpo(cfg: DPOConfig, *, after_step: StepHook | None = None) -> TrainResult:
    """Run DPO to cfg.max_steps (resuming from the run directory's newest checkpoint)."""
    run = StageRun("dpo", cfg, data_digests={})
    info = run.info
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the {info.world_size} processes")
    model, tokenizer = run.load_model(cfg.model, lora=cfg.lora)
    if cfg.lora is None:
        model.set_trainable(encoder=False, adaptor=True, decoder=True)
    reference = run.load_reference(cfg.model, model)

    def encode_fn(record, source, key):
        chosen, rejected = encode_pair(record, tokenizer, key=key)
        longest = max(len(chosen.input_ids), len(rejected.input_ids))
        if longest > cfg.max_length:
            raise ValueError(f"{source.path}: pair {key} has {longest} tokens, more than max_length={cfg.max_length}")
        return chosen, rejected

    dataset = MixedDataset(cfg.pairs, batch_size=cfg.batch_size, seed=cfg.run.seed, encode_fn=encode_fn)
    run.fingerprint["data"] = dataset.digests
    model = shard(model, info).train()
    optimizer = build_optimizer(model, cfg.optim)
    start, _ = run.resume(model, optimizers={"model": (model, optimizer)})
    log = run.metrics(cfg.max_steps, start, show=("loss", "margin"))
    pad = tokenizer.special.endoftext
    history: list[dict] = []
    step = start
    with run.stop:
        while step < cfg.max_steps:
            lr = set_lr(optimizer, cfg.optim.lr, warmup_cosine(step, warmup_steps=cfg.optim.warmup_steps,
                                                               total_steps=cfg.max_steps,
                                                               min_ratio=cfg.optim.min_lr_ratio))
            pairs = dataset.batch(step, rank=info.rank, world_size=info.world_size)
            optimizer.zero_grad(set_to_none=True)
            sums = {"loss": 0.0, "margin": 0.0, "accuracy": 0.0, "chosen_reward": 0.0, "rejected_reward": 0.0}
            for micro in split_micro(pairs, cfg.micro_batch_size):
                micro = list(micro)
                with torch.no_grad():
                    ref_c, ref_r = sequence_logprobs(reference, micro, pad, run, cfg.logprob_chunk)
                pol_c, pol_r = sequence_logprobs(model, micro, pad, run, cfg.logprob_chunk)
                loss, margins = dpo_loss(pol_c, pol_r, ref_c, ref_r, beta=cfg.beta)
                share = len(micro) / cfg.batch_size     # the mean over the global batch of pairs
                (loss * share * info.world_size).backward()
                sums["loss"] += float(loss.detach()) * share
                sums["margin"] += float(margins.sum()) / cfg.batch_size
                sums["accuracy"] += float((margins > 0).float().sum()) / cfg.batch_size
                sums["chosen_reward"] += float(cfg.beta * (pol_c - ref_c).detach().sum()) / cfg.batch_size
                sums["rejected_reward"] += float(cfg.beta * (pol_r - ref_r).detach().sum()) / cfg.batch_size
            grad_norm = clip_gradients(model, cfg.optim.grad_clip)
            optimizer.step()
            step += 1
            metrics = {k: float(all_reduce(v)) for k, v in sums.items()}
            metrics.update(lr=lr, grad_norm=grad_norm)
            history.append(metrics)
            if step % cfg.run.log_every == 0 or step == cfg.max_steps:
                log.log(step, metrics)
            log.advance()
            stopping = run.stop.should_stop()
            if step % cfg.run.save_every == 0 or step == cfg.max_steps or stopping:
                run.save(step, model, tokenizer, optimizers={"model": (model, optimizer)},
                         extra={"data_position": step * cfg.batch_size, "lr": lr})
            if after_step is not None:
                after_step(step, metrics)
            if stopping:
                log.close()
                return TrainResult(run.dir, step, True, history)
    log.close()
    return TrainResult(run.dir, step, False, history, run.export(model, tokenizer))
