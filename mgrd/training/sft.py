"""Supervised fine-tuning: loss on assistant tokens (or on all tokens, for decoder pretraining)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from mgrd.training.config import SFTConfig
from mgrd.training.data import MixedDataset, collate, encode_example, split_micro
from mgrd.training.distributed import all_reduce, shard
from mgrd.training.losses import masked_sum, selective_logprobs
from mgrd.training.metrics import decoder_matmul_params
from mgrd.training.optim import build_optimizer, clip_gradients
from mgrd.training.schedule import set_lr, warmup_cosine
from mgrd.training.stage import StageRun

StepHook = Callable[[int, dict], None]


@dataclass
class TrainResult:
    """How a stage ended: steps completed, per-step metrics of this process's run, where things are."""

    run_dir: Path
    steps: int
    preempted: bool
    history: list[dict] = field(default_factory=list)
    model_dir: Path | None = None

    @property
    def losses(self) -> list[float]:
        return [h["loss"] for h in self.history]


def estimate_length(record: dict, source) -> int:
    """A cheap size estimate for length grouping: characters of the JSON record plus ~50 per audio second."""
    size = len(json.dumps(record.get("messages", record.get("text", ""))))
    for m in record.get("messages") or ():
        for part in m.get("content") if isinstance(m.get("content"), list) else ():
            if isinstance(part, dict) and isinstance(part.get("audio"), str):
                try:
                    import soundfile

                    size += int(50 * soundfile.info(part["audio"]).duration)
                except Exception:  # unreadable audio fails loudly later, at encoding
                    pass
    return size


def train_sft(cfg: SFTConfig, *, after_step: StepHook | None = None) -> TrainResult:
    """Run SFT to cfg.max_steps (resuming from the run directory's newest checkpoint)."""
    if cfg.batch_size < 1:
        raise ValueError(f"batch_size={cfg.batch_size}; accepted: >= 1")
    run = StageRun("sft", cfg, data_digests={})
    model, tokenizer = run.load_model(cfg.model, lora=cfg.lora)
    if cfg.lora is None:   # with LoRA the loader has chosen what trains
        model.set_trainable(encoder=False, adaptor=True, decoder=not cfg.train_adaptor_only)

    def encode_fn(record, source, key):
        example = encode_example(record, tokenizer, loss_on=source.loss_on, key=key)
        if len(example.input_ids) > cfg.max_length:
            raise ValueError(f"{source.path}: record {key} has {len(example.input_ids)} tokens, more than "
                             f"max_length={cfg.max_length}; raise max_length or shorten the data")
        return example

    dataset = MixedDataset(cfg.data, batch_size=cfg.batch_size, seed=cfg.run.seed, encode_fn=encode_fn,
                           length_fn=estimate_length, group_by_length=cfg.length_grouping)
    run.fingerprint["data"] = dataset.digests
    info = run.info
    model = shard(model, info).train()
    optimizer = build_optimizer(model, cfg.optim)
    start, _ = run.resume(model, optimizers={"model": (model, optimizer)})
    log = run.metrics(cfg.max_steps, start)
    pad = tokenizer.special.endoftext
    history: list[dict] = []
    flops_params = decoder_matmul_params(model)
    step = start
    with run.stop:
        while step < cfg.max_steps:
            lr = set_lr(optimizer, cfg.optim.lr, warmup_cosine(step, warmup_steps=cfg.optim.warmup_steps,
                                                               total_steps=cfg.max_steps,
                                                               min_ratio=cfg.optim.min_lr_ratio))
            examples = dataset.batch(step, rank=info.rank, world_size=info.world_size)
            local_tokens = sum(sum(e.loss_mask[1:]) for e in examples)
            n_tokens = all_reduce(local_tokens)
            optimizer.zero_grad(set_to_none=True)
            loss_sum = 0.0
            seq_tokens = 0
            for micro in split_micro(examples, cfg.micro_batch_size):
                batch = collate(micro, pad).to(run.device)
                seq_tokens += int(batch.attention_mask.sum())
                with run.autocast():
                    logp, _ = model(batch.input_ids, batch.audio_mels or None, attention_mask=batch.attention_mask,
                                    head_fn=partial(selective_logprobs, labels=batch.labels, mask=batch.loss_mask,
                                                    chunk=cfg.logprob_chunk))
                # the mean cross-entropy over the global batch's target tokens (the parts sum to the whole)
                loss = -masked_sum(logp, batch.loss_mask) / max(float(n_tokens), 1.0)
                # FSDP averages gradients over processes; the loss is already a global mean.
                (loss * info.world_size).backward()
                loss_sum += float(loss.detach())
            grad_norm = clip_gradients(model, cfg.optim.grad_clip)
            optimizer.step()
            step += 1
            metrics = {"loss": float(all_reduce(loss_sum)), "lr": lr, "grad_norm": grad_norm,
                       "tokens": int(n_tokens), "seq_tokens": int(all_reduce(seq_tokens)),
                       "flops": 6.0 * flops_params * float(all_reduce(seq_tokens)),
                       "samples": [e.key for e in examples]}
            history.append(metrics)
            if step % cfg.run.log_every == 0 or step == cfg.max_steps:
                log.log(step, {k: v for k, v in metrics.items() if k != "samples"})
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
    out = run.export(model, tokenizer)
    return TrainResult(run.dir, step, False, history, out)


def sample_ids(history: list[dict]) -> list[str]:
    """Every sample key consumed, in order (for resume checks)."""
    return [k for h in history for k in h.get("samples", [])]

