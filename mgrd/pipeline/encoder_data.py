"""The encoder stage's clips: stored training clips, fresh world items made on the fly, and held-out probe clips."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from mgrd.pipeline import data as D
from mgrd.training.config import SourceConfig


def encoder_sources(ctx, sdir: Path, spec) -> list[SourceConfig]:
    """The stored clips of the train split and, with `streamed_share`, references to fresh world items
    (one per sample drawn, so no streamed clip is seen twice). `ctx` is the run's stages.Context."""
    from mgrd.data.world.targets import STREAMED_FAMILIES, stream_references

    stored = SourceConfig(D.write(sdir / "clips.jsonl", D.encoder_records(ctx.records("train"), ctx.world_dir)),
                          ratio=1.0 - spec.streamed_share)
    if spec.streamed_share <= 0:
        return [stored]
    asked = ctx.recipe.world.families
    families = [f for f in STREAMED_FAMILIES if not asked or f in asked]
    if not families:
        return [dataclasses.replace(stored, ratio=1.0)]
    n = math.ceil(spec.steps * spec.batch_size * spec.streamed_share) + spec.batch_size
    refs = stream_references(families, split="train", seed=ctx.recipe.world.seed, n=n)
    return [stored, SourceConfig(D.write(sdir / "streamed.jsonl", refs), ratio=spec.streamed_share)]


# The encoder's probe clips are the streamed held-out items from this index on (settings were chosen on dev).
PROBE_STREAM_OFFSET = 1 << 16


def encoder_probe_sources(ctx, sdir: Path, spec) -> list[SourceConfig]:
    """`probe_clips` held-out clips for the encoder's probe accuracy: fresh held-out items of the families made
    on the fly (their frame-level truth is known), and the stored held-out clips of the other families
    (speech) in proportion."""
    from mgrd.data.world.targets import STREAMED_FAMILIES, stream_references

    if spec.probe_clips <= 0:
        return []
    heldout = ctx.records("heldout")
    asked = ctx.recipe.world.families
    families = [f for f in STREAMED_FAMILIES if not asked or f in asked] if ctx.recipe.data.source == "world" else []
    stored = D.encoder_records([r for r in heldout if r.family not in families], ctx.world_dir)
    audio = [r for r in heldout if D.is_audio_item(r) or D.is_probe(r)]
    share = len([r for r in audio if r.family not in families]) / max(len(audio), 1)
    kept = stored[:round(spec.probe_clips * share)] if families else stored[:spec.probe_clips]
    refs = stream_references(families, split="heldout", seed=ctx.recipe.world.seed, n=spec.probe_clips - len(kept),
                             offset=PROBE_STREAM_OFFSET) if families and spec.probe_clips > len(kept) else []
    clips = refs + kept
    return [SourceConfig(D.write(sdir / "probe_clips.jsonl", clips))] if clips else []
