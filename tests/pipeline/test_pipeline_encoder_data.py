"""The encoder stage's probe clips: fresh held-out items with frame truth, and stored clips of the other families."""

import json

from mgrd.data.world.generate import SPLITS
from mgrd.data.world.targets import FIRST_STREAM_INDEX
from mgrd.pipeline import stages as S
from mgrd.pipeline.encoder_data import PROBE_STREAM_OFFSET, encoder_probe_sources
from mgrd.pipeline.recipe import load_recipe
from mgrd.pipeline.runner import Runner


def _probe_clips(tmp_path, overrides):
    recipe = load_recipe("smoke", ["world.families=[sound,cognition]", "world.train=4", "world.heldout=12",
                                   "encoder_pretrain.probe_clips=10", *overrides])
    ctx = S.Context(recipe, Runner(tmp_path / "run", log=lambda _: None), say=lambda _: None, progress=False)
    S.data(ctx)
    sources = encoder_probe_sources(ctx, tmp_path, recipe.encoder_pretrain)
    return ctx, [json.loads(line) for s in sources for line in open(s.path)]


def test_probe_clips_are_unseen_heldout_items_and_stored_clips_of_other_families(tmp_path):
    ctx, clips = _probe_clips(tmp_path, [])
    streamed = [c for c in clips if "world" in c]
    stored = [c for c in clips if "audio" in c]
    assert len(clips) == 10 and streamed and stored
    assert {c["world"]["family"] for c in streamed} == {"sound"}
    # held-out split, from the probe block on: never a stored held-out item, never a training stream
    for c in streamed:
        seed = c["world"]["seed"]
        assert seed >> 48 == SPLITS["heldout"] and seed & 0xFFFFFF >= FIRST_STREAM_INDEX + PROBE_STREAM_OFFSET
    cognition = {str(ctx.world_dir / p) for r in ctx.records("heldout") if r.family == "cognition" for p in r.audio}
    assert {c["audio"] for c in stored} <= cognition


def test_without_a_family_made_on_the_fly_the_probe_clips_are_stored_ones(tmp_path):
    _, clips = _probe_clips(tmp_path, ["world.families=[cognition]"])
    assert clips and all("audio" in c for c in clips) and len(clips) <= 10
