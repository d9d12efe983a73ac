"""Text bases: the shipped one is intact and fits the recipe that makes the audio base; export, load, the base stage."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from mgrd.model import load_pretrained
from mgrd.pipeline import stages as S
from mgrd.pipeline import text_base as TB
from mgrd.pipeline.recipe import load_recipe
from mgrd.pipeline.runner import Runner

SMALL_WORLD = ["world.families=[text]", "world.train=24", "world.heldout=8"]


def test_the_shipped_base_is_intact_and_fits_the_recipe_of_the_audio_base():
    recipe = load_recipe("tiny-audio-base")
    assert recipe.model.text_base in TB.shipped_names()
    base = TB.resolve(recipe.model.text_base)
    TB.check_fits(base, recipe.model)
    tok = TB.tokenizer(base)
    assert -(-tok.vocab_size // 64) * 64 == base.text_config["vocab_size"] == 1024
    state = load_file(base.path / TB.WEIGHTS)
    assert all(k.startswith(TB.DECODER_PREFIXES) for k in state)
    assert sum(t.numel() for t in state.values()) == base.manifest["parameters"]
    assert base.manifest["made_by"]["data"].count("train split") == 1   # never the dev or held-out split


def _base_stage(recipe, run_dir):
    ctx = S.Context(recipe, Runner(run_dir, log=lambda _: None), say=lambda _: None, progress=False)
    return S.base_model(ctx, S.data(ctx)).output.model.path


def test_the_base_stage_takes_tokenizer_and_decoder_from_a_text_base(tmp_path):
    recipe = load_recipe("smoke", SMALL_WORLD)
    first = load_pretrained(_base_stage(recipe, tmp_path / "a"))
    with torch.no_grad():                      # stands in for text pretraining: weights no new model has
        for name, p in first.named_parameters():
            if name.startswith(TB.DECODER_PREFIXES):
                p.add_(0.5)
    from mgrd.chat import Tokenizer
    from mgrd.model import save_pretrained

    tok = Tokenizer.from_dir(tmp_path / "a" / "base" / "model")
    save_pretrained(first, tmp_path / "pretrained", tokenizer=tok)
    base = TB.export(tmp_path / "pretrained", tmp_path / "tb", dtype="float32", made_by={"note": "test"})
    assert json.loads((tmp_path / "tb" / TB.MANIFEST).read_text())["made_by"] == {"note": "test"}

    second = load_pretrained(_base_stage(load_recipe("smoke", [*SMALL_WORLD, f"model.text_base={base.path}"]),
                                         tmp_path / "b"))
    new, old = dict(second.named_parameters()), dict(first.named_parameters())
    decoder = [k for k in new if k.startswith(TB.DECODER_PREFIXES)]
    audio = [k for k in new if not k.startswith(TB.DECODER_PREFIXES)]
    assert decoder and audio
    assert all(torch.equal(new[k], old[k]) for k in decoder)           # the base's decoder
    fresh = load_pretrained(tmp_path / "a" / "base" / "model")
    assert all(torch.equal(new[k], dict(fresh.named_parameters())[k]) for k in audio)   # a new, seeded encoder
    assert Tokenizer.from_dir(tmp_path / "b" / "base" / "model").encode("3 high beeps") == tok.encode("3 high beeps")


def test_bfloat16_export_rounds_and_a_damaged_base_is_refused(tmp_path):
    from mgrd.pipeline.recipe import load_recipe as _load

    _base_stage(_load("smoke", SMALL_WORLD), tmp_path / "run")
    src = tmp_path / "run" / "base" / "model"
    base = TB.export(src, tmp_path / "tb")
    state = load_file(base.path / TB.WEIGHTS)
    original = load_pretrained(src).state_dict()
    assert all(v.dtype == torch.bfloat16 and torch.equal(v, original[k].to(torch.bfloat16)) for k, v in state.items())
    with pytest.raises(ValueError, match="already exists"):
        TB.export(src, tmp_path / "tb")
    weights = base.path / TB.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or was replaced"):
        TB.resolve(base.path)


def test_bad_text_bases_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="shipped: tiny-text-v1"):
        TB.resolve("no-such-base")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="lacks decoder.safetensors"):
        TB.resolve(tmp_path / "empty")
    small = load_recipe("smoke")
    with pytest.raises(ValueError, match=r"model.hidden_size=64 \(the base has 192\)"):
        TB.check_fits(TB.resolve("tiny-text-v1"), small.model)
    with pytest.raises(ValueError, match="model.base and model.text_base contradict"):
        load_recipe("tiny-audio-base", [f"model.base={tmp_path}"])
