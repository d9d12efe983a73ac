"""Audio-encoder pretraining: encoder + adaptor learn typed facts through small auxiliary heads.

The tiny recipe's stand-in for a pretrained audio encoder (DESIGN.md "The tiny scale"). A record
is `{"audio": "audio/x.flac", "targets": {"pitch_class": "A", "count": 5, "duration_s": 0.8}}`:
strings, booleans and integers are classes, floats are regressed (standardised). A record may
instead reference a world item, `{"world": {"family": "music", "seed": 123}, "clip": 0}`: the clip
and its targets are made when the record is read (unlimited distinct clips; the heads are those of
the records that carry targets). The saved AudioLM carries the trained encoder and adaptor; later
stages load it and keep the encoder frozen. With `eval_data`, the heads are probed on held-out
clips after training (`probes.json`: accuracy per fact type, within the tolerances of `PROBE_RULES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mgrd.audio import AudioError, load_audio, log_mel, split_chunks
from mgrd.data.world.targets import FRAME_LABELS, FRAMES, LOWEST_NOTE, NOTE_RANGE, NOTES
from mgrd.io import write_json_atomic
from mgrd.training.config import EncoderPretrainConfig
from mgrd.training.data import MixedDataset, read_records
from mgrd.training.distributed import all_reduce, shard
from mgrd.training.optim import build_optimizer, clip_gradients
from mgrd.training.schedule import set_lr, warmup_cosine
from mgrd.training.sft import StepHook, TrainResult
from mgrd.training.stage import StageRun


@dataclass(frozen=True)
class HeadSpec:
    """One fact: classes (labels in order) or a regression (mean, std of the targets)."""

    name: str
    labels: tuple[str, ...] = ()
    mean: float = 0.0
    std: float = 1.0

    @property
    def is_class(self) -> bool:
        return bool(self.labels)


def head_specs(records: list[dict]) -> list[HeadSpec]:
    """Heads inferred from the targets of all records (a float anywhere makes a regression).

    References to world items (no targets until read) are skipped; at least one record must carry targets.
    """
    values: dict[str, list] = {}
    stored = [r for r in records if "world" not in r]
    if not stored:
        raise ValueError("encoder pretraining needs records with 'targets' (world references alone do not "
                         "say which heads to build)")
    for i, r in enumerate(stored):
        targets = r.get("targets")
        if not isinstance(targets, dict) or not targets:
            raise ValueError(f"record {i} needs a non-empty 'targets' mapping of fact name to value")
        for k, v in targets.items():
            if k not in (FRAMES, NOTES):   # frame targets feed the frame heads, not a fact head
                values.setdefault(k, []).append(v)
    specs = []
    for name, vals in sorted(values.items()):
        if any(isinstance(v, float) for v in vals):
            x = [float(v) for v in vals]
            mean = sum(x) / len(x)
            std = math.sqrt(sum((v - mean) ** 2 for v in x) / len(x)) or 1.0
            specs.append(HeadSpec(name, mean=mean, std=std))
        else:
            specs.append(HeadSpec(name, labels=tuple(sorted({str(v) for v in vals}))))
    return specs


class FactHeads(nn.Module):
    """One small MLP per fact on three poolings of a clip's adaptor output: the mean; a sum (scaled by
    1/16), so that per-frame onset features add up to counts; and an attention pooling with the
    fact's own learned query (so "note 2" can look at where the second note is). Two frame heads
    learn dense targets: one classifies every frame as the onset of an event kind or none (`FRAMES`),
    the other says which MIDI notes sound in it (`NOTES`, a piano roll: a softmax over "no note" and
    every note, shared among the notes of a chord); the
    expected number of onsets of each kind (the sum of its probabilities over frames) is a fourth
    input of every fact head, so counts can be read off the frames."""

    def __init__(self, specs: list[HeadSpec], dim: int, hidden: int) -> None:
        super().__init__()
        self.specs = specs
        self.queries = nn.Parameter(torch.randn(len(specs), dim) * dim ** -0.5)
        self.frames = nn.Linear(dim, len(FRAME_LABELS))
        self.notes = nn.Linear(dim, 1 + NOTE_RANGE)   # class 0: no note sounds
        width = 3 * dim + len(FRAME_LABELS)
        self.heads = nn.ModuleDict({s.name: nn.Sequential(nn.Linear(width, hidden), nn.GELU(),
                                                          nn.Linear(hidden, len(s.labels) or 1)) for s in specs})

    def forward(self, clips: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """`clips`: one [T_i, dim] feature sequence per clip -> name -> [num_clips, classes or 1];
        FRAMES -> [num_clips, T, frame classes], NOTES -> [num_clips, T, 1 + NOTE_RANGE] (padding frames: -inf)."""
        x = nn.utils.rnn.pad_sequence(clips, batch_first=True)                       # [B, T, D]
        lengths = torch.tensor([len(c) for c in clips], device=x.device)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]   # [B, T]
        total = (x * valid[..., None]).sum(1)                                         # [B, D]
        mean = total / lengths[:, None]
        scores = torch.einsum("btd,hd->bht", x, self.queries).masked_fill(~valid[:, None, :], float("-inf"))
        attended = torch.einsum("bht,btd->bhd", scores.softmax(-1), x)                # [B, H, D]
        frames = self.frames(x)                                                       # [B, T, C]
        onsets = (frames.softmax(-1) * valid[..., None]).sum(1)                       # [B, C] expected counts
        out = {name: head(torch.cat([mean, total / 16.0, attended[:, i], onsets], -1))
               for i, (name, head) in enumerate(self.heads.items())}
        out[FRAMES] = frames.masked_fill(~valid[..., None], float("-inf"))
        out[NOTES] = self.notes(x).masked_fill(~valid[..., None], float("-inf"))
        return out


class _Trainable(nn.Module):
    """The AudioLM and its heads as one module, so one optimizer and one state dict cover both."""

    def __init__(self, model, heads: FactHeads) -> None:
        super().__init__()
        self.model, self.heads = model, heads


def read_clip(record: dict) -> tuple[dict, list[torch.Tensor]]:
    """(record with its targets, log-mel chunks) of a stored clip or of a world reference."""
    if "world" in record:
        from mgrd.data.world.targets import streamed_clip

        targets, samples = streamed_clip(record)
        record = {**record, "targets": targets}
    else:
        source = record.get("audio")
        if not isinstance(source, str):
            raise ValueError("an encoder-pretraining record needs 'audio' (a path to the clip) or 'world' "
                             "(a reference to a world item)")
        try:
            samples = load_audio(source)
        except AudioError as e:
            raise AudioError(f"{source}: {e}") from None
    return record, [log_mel(c) for c in split_chunks(samples)]


def clip_features(model, clips: list[list[torch.Tensor]], device: torch.device) -> list[torch.Tensor]:
    """One [T_i, dim] float32 adaptor-output sequence per clip (its chunks' features concatenated)."""
    feats = model.encode_audio([m.to(device) for clip in clips for m in clip])
    sequences, k = [], 0
    for clip in clips:
        sequences.append(torch.cat(feats[k:k + len(clip)]).float())
        k += len(clip)
    return sequences


def _target_index(spec: HeadSpec, value) -> int | None:
    """Class index of a target, None for a label the heads were not built with (a streamed rarity)."""
    try:
        return spec.labels.index(str(value))
    except ValueError:
        return None


def fact_losses(outputs: dict[str, torch.Tensor], records: list[dict], specs: list[HeadSpec], *,
                fact_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """`fact_weight` x the sum over facts of the mean CE (classes) or MSE on standardised targets, plus the
    frame heads' losses (onsets, notes) where the batch has frame targets; and accuracies / MAE."""
    facts = torch.zeros((), device=next(iter(outputs.values())).device)
    stats = {}
    for s in specs:
        rows = [i for i, r in enumerate(records) if s.name in r["targets"]
                and (not s.is_class or _target_index(s, r["targets"][s.name]) is not None)]
        if not rows:
            continue
        out = outputs[s.name][rows]
        if s.is_class:
            target = torch.tensor([_target_index(s, records[i]["targets"][s.name]) for i in rows],
                                  device=out.device)
            facts = facts + F.cross_entropy(out, target)
            stats[f"{s.name}_acc"] = float((out.argmax(-1) == target).float().mean())
        else:
            raw = torch.tensor([float(records[i]["targets"][s.name]) for i in rows], device=out.device)
            pred = out.squeeze(-1)
            facts = facts + F.mse_loss(pred, (raw - s.mean) / s.std)
            stats[f"{s.name}_mae"] = float(((pred.detach() * s.std + s.mean) - raw).abs().mean())
    total = fact_weight * facts
    frames = frame_loss(outputs[FRAMES], records) if FRAMES in outputs else None
    if frames is not None:
        total = total + frames[0]
        stats["onset_recall"] = frames[1]
    notes = note_loss(outputs[NOTES], records) if NOTES in outputs else None
    if notes is not None:
        total = total + notes[0]
        stats["note_frame_acc"] = notes[1]
    return total, stats


def frame_loss(logits: torch.Tensor, records: list[dict]) -> tuple[torch.Tensor, float] | None:
    """Mean CE of the frame classes over the valid frames of the clips with onset targets, and the share
    of onset frames classified as their kind; None when no clip of the batch has frame targets."""
    rows = [i for i, r in enumerate(records) if r["targets"].get(FRAMES)]
    if not rows:
        return None
    target = torch.full(logits.shape[:2], -100, dtype=torch.long, device=logits.device)
    onset = torch.zeros(logits.shape[:2], dtype=torch.bool, device=logits.device)
    valid = torch.isfinite(logits[..., 0])
    for i in rows:
        target[i][valid[i]] = 0
        for frame, label in records[i]["targets"][FRAMES]:
            if frame < int(valid[i].sum()):
                target[i, frame] = FRAME_LABELS.index(label)
                onset[i, frame] = True
    picked = logits[rows]
    loss = F.cross_entropy(picked.reshape(-1, picked.shape[-1]).masked_fill(~valid[rows].reshape(-1, 1), 0.0),
                           target[rows].reshape(-1), ignore_index=-100)
    hits = (logits.argmax(-1) == target) & onset
    return loss, float(hits.sum() / onset.sum().clamp(min=1))


def note_loss(logits: torch.Tensor, records: list[dict]) -> tuple[torch.Tensor, float] | None:
    """Mean CE over the valid frames of the clips with note targets, against "no note" (class 0) or the notes
    sounding in the frame in equal shares (a chord: a third each); and the share of frames where a note
    sounds whose strongest note class names one that does. None when no clip of the batch has note targets."""
    rows = [i for i, r in enumerate(records) if NOTES in r["targets"]]
    if not rows:
        return None
    picked = logits[rows]
    valid = torch.isfinite(picked[..., 0])
    roll = torch.zeros_like(picked)
    for row, i in enumerate(rows):
        for first, end, midi in records[i]["targets"][NOTES]:
            roll[row, first:end, 1 + int(midi) - LOWEST_NOTE] = 1.0
    roll[..., 0] = roll[..., 1:].sum(-1) == 0
    share = roll / roll.sum(-1, keepdim=True)
    loss = F.cross_entropy(picked[valid], share[valid])
    sounding = valid & (roll[..., 0] == 0)
    strongest = 1 + picked[..., 1:].argmax(-1, keepdim=True)
    hits = roll.gather(-1, strongest).squeeze(-1).bool() & sounding
    return loss, float(hits.sum() / sounding.sum().clamp(min=1))


def train_encoder(cfg: EncoderPretrainConfig, *, after_step: StepHook | None = None) -> TrainResult:
    """Train encoder + adaptor on fact heads to cfg.max_steps; the AudioLM is exported to RUN/model."""
    run = StageRun("encoder_pretrain", cfg, data_digests={})
    info = run.info
    model, tokenizer = run.load_model(cfg.model, sharded=False)   # sharded below, with its heads
    model.set_trainable(encoder=True, adaptor=True, decoder=False)
    specs = head_specs([r for s in cfg.data for r in read_records(s.path)])
    heads = FactHeads(specs, model.text_config.hidden_size, cfg.head_hidden).to(run.device)
    dataset = MixedDataset(cfg.data, batch_size=cfg.batch_size, seed=cfg.run.seed,
                           encode_fn=lambda record, source, key: read_clip(record))
    run.fingerprint["data"] = dataset.digests
    if info.main:
        write_json_atomic(run.dir / "heads.json", [s.__dict__ | {"labels": list(s.labels)} for s in specs])
    both = shard(_Trainable(model, heads), info).train()
    optimizer = build_optimizer(both, cfg.optim)
    start, _ = run.resume(model, optimizers={"model": (both, optimizer)}, modules={"heads": heads})
    log = run.metrics(cfg.max_steps, start)
    history: list[dict] = []
    step = start
    with run.stop:
        while step < cfg.max_steps:
            lr = set_lr(optimizer, cfg.optim.lr, warmup_cosine(step, warmup_steps=cfg.optim.warmup_steps,
                                                               total_steps=cfg.max_steps,
                                                               min_ratio=cfg.optim.min_lr_ratio))
            items = dataset.batch(step, rank=info.rank, world_size=info.world_size)
            optimizer.zero_grad(set_to_none=True)
            with run.autocast():
                sequences = clip_features(model, [clip for _, clip in items], run.device)
            outputs = heads(sequences)   # float32 heads outside autocast
            loss, stats = fact_losses(outputs, [r for r, _ in items], specs, fact_weight=cfg.fact_weight)
            (loss * len(items) / cfg.batch_size * info.world_size).backward()
            grad_norm = clip_gradients(both, cfg.optim.grad_clip)
            optimizer.step()
            step += 1
            metrics = {"loss": float(all_reduce(float(loss.detach()) * len(items) / cfg.batch_size)),
                       "lr": lr, "grad_norm": grad_norm, **stats}
            history.append(metrics)
            if step % cfg.run.log_every == 0 or step == cfg.max_steps:
                log.log(step, metrics)
            log.advance()
            stopping = run.stop.should_stop()
            if step % cfg.run.save_every == 0 or step == cfg.max_steps or stopping:
                run.save(step, model, tokenizer, optimizers={"model": (both, optimizer)}, modules={"heads": heads},
                         extra={"data_position": step * cfg.batch_size, "lr": lr})
            if after_step is not None:
                after_step(step, metrics)
            if stopping:
                log.close()
                return TrainResult(run.dir, step, True, history)
    log.close()
    if cfg.eval_data and info.main:
        from mgrd.training.encoder_probes import probe_heads

        both.eval()
        report = probe_heads(model, heads, specs, [r for s in cfg.eval_data for r in read_records(s.path)],
                             run.device, batch_size=cfg.batch_size, read=read_clip, features=clip_features)
        write_json_atomic(run.dir / "probes.json", report)
    return TrainResult(run.dir, step, False, history, run.export(model, tokenizer))
