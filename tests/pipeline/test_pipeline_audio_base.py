"""Audio bases: export a whole model with its probes, load it as model.base, and its probes as the ladder's rung (a)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from mgrd.model import load_pretrained
from mgrd.pipeline import audio_base as AB
from mgrd.pipeline import stages as S
from mgrd.pipeline import text_base as TB
from mgrd.pipeline.perception import ladder_section
from mgrd.pipeline.recipe import load_recipe
from mgrd.pipeline.runner import Runner, write_summary

SMALL_WORLD = ["world.families=[text]", "world.train=24", "world.heldout=8"]
PROBES = {"by_type": {"count": {"accuracy": 0.75, "n": 4}}, "clips": 4}


def _stage(recipe, run_dir):
    runner = Runner(run_dir, log=lambda _: None)
    ctx = S.Context(recipe, runner, say=lambda _: None, progress=False)
    data = S.data(ctx)
    return runner, data, S.base_model(ctx, data)


def _exported(tmp_path):
    _stage(load_recipe("smoke", SMALL_WORLD), tmp_path / "run")
    (tmp_path / "probes.json").write_text(json.dumps(PROBES))
    src = tmp_path / "run" / "base" / "model"
    return src, AB.export(src, tmp_path / "ab", probes=tmp_path / "probes.json", made_by={"note": "test"})


def test_an_exported_base_holds_the_whole_model_and_its_probes(tmp_path):
    src, base = _exported(tmp_path)
    assert base.manifest["kind"] == "audio" and base.manifest["made_by"] == {"note": "test"}
    assert base.probes == PROBES
    state, original = load_file(base.path / AB.WEIGHTS), load_pretrained(src).state_dict()
    assert state.keys() == original.keys()                       # encoder and adaptor too, not the decoder alone
    assert any(k.startswith("encoder.") for k in state) and any(k.startswith("adapter.") for k in state)
    assert all(v.dtype == torch.bfloat16 and torch.equal(v, original[k].to(torch.bfloat16)) for k, v in state.items())
    assert sum(t.numel() for t in state.values()) == base.manifest["parameters"]
    reloaded = load_pretrained(base.path)
    assert all(torch.equal(p, original[k].to(torch.bfloat16).float()) for k, p in reloaded.state_dict().items())


def test_a_run_from_an_audio_base_reports_its_probes_as_the_first_rung(tmp_path):
    _, base = _exported(tmp_path)
    runner, data, result = _stage(load_recipe("smoke", [*SMALL_WORLD, f"model.base={base.path}"]), tmp_path / "b")
    assert result.output.probes == PROBES
    assert load_file(result.output.model.path + "/model.safetensors").keys() == load_file(base.path / AB.WEIGHTS).keys()
    summary = write_summary(tmp_path / "b", "smoke", {"data": data, "base": result}, finished_run=False)
    assert summary["perception"]["encoder"]["stage"] == "base (when made)"
    rows = [line for line in ladder_section(summary) if line.startswith("| encoder")]
    assert rows == ["| encoder probes (frozen encoder: frame reading or fact heads) | base (when made) | 75 % (4) |"]


def test_a_damaged_or_wrong_base_is_refused_with_what_is_accepted(tmp_path):
    src, base = _exported(tmp_path)
    with pytest.raises(ValueError, match="already exists"):
        AB.export(src, tmp_path / "ab")
    with pytest.raises(FileNotFoundError, match="no such file"):
        AB.export(src, tmp_path / "ab2", probes=tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="shipped audio base"):
        AB.resolve(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="name it as model.text_base"):
        AB.resolve(TB.resolve("tiny-text-v1").path.parent / "tiny-text-v1")
    weights = base.path / AB.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or was replaced"):
        AB.resolve(base.path)
    assert AB.resolve(src).manifest is None           # a checkpoint without a manifest is taken as it is


def test_export_base_command(tmp_path):
    from typer.testing import CliRunner

    from mgrd.cli.main import app

    _stage(load_recipe("smoke", SMALL_WORLD), tmp_path / "run")
    src = tmp_path / "run" / "base" / "model"
    done = CliRunner().invoke(app, ["export-base", str(src), "--out", str(tmp_path / "ab"), "--note", "made here"])
    assert done.exit_code == 0, done.output
    assert "parameters in bfloat16" in " ".join(done.output.split())
    assert AB.resolve(tmp_path / "ab").manifest["made_by"] == {"note": "made here"}
    wrong = CliRunner().invoke(app, ["export-base", str(tmp_path), "--out", str(tmp_path / "ab2")])
    assert wrong.exit_code != 0 and "not a checkpoint of this layout" in wrong.output


def test_the_shipped_audio_base_is_intact_and_is_what_its_recipe_makes():
    import yaml

    from mgrd.pipeline.recipe import recipe_dict

    tiny = load_recipe("tiny")
    assert tiny.model.base in TB.shipped_names("audio")
    base = AB.resolve(tiny.model.base)
    made = base.manifest["made_by"]
    as_run, shipped = yaml.safe_load(made["recipe"]), recipe_dict(load_recipe("tiny-audio-base"))
    making = ("seed", "data", "world", "model", "text_pretrain", "encoder_pretrain", "audio_pretrain")
    assert {k: as_run[k] for k in making} == {k: shipped[k] for k in making}
    for recipe in (as_run, shipped):                                           # and no MGRD stage ran
        assert recipe["cold_start"]["steps"] == recipe["text_rl"]["iterations"] == recipe["cognition"]["steps"] == 0
        assert recipe["iterations"]["count"] == 0
    assert as_run["data"]["source"] == "world" and made["weights"] == "audio_pretrain/train/model"  # train split
    config = json.loads((base.path / "config.json").read_text())["text_config"]
    sizes = load_recipe("tiny-audio-base").model
    assert all(config[theirs] == getattr(sizes, ours) for theirs, ours in TB.SIZES.items())
    text = TB.resolve(shipped["model"]["text_base"])
    assert (base.path / "tokenizer.json").read_bytes() == (text.path / "tokenizer.json").read_bytes()
    decoder, state = load_file(text.path / TB.WEIGHTS), load_file(base.path / AB.WEIGHTS)
    assert not torch.equal(state["lm_head.weight"], decoder["lm_head.weight"])      # trained beyond the text base
    assert sum(t.numel() for t in state.values()) == base.manifest["parameters"]
    assert {"count", "pitch"} <= set(base.probes["by_type"])                          # rung (a) as it was made
