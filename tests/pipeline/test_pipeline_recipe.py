"""Recipes: every shipped one loads, overrides apply, bad settings are refused with the accepted values named."""

from pathlib import Path

import pytest

from mgrd.pipeline.recipe import SHIPPED, Recipe, dump_recipe, load_recipe, shipped_recipe

REPO_RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_recipe_loads_by_name_and_by_path(name):
    by_name = load_recipe(name)
    by_path = load_recipe(REPO_RECIPES / f"{name}.yaml")
    assert isinstance(by_name, Recipe) and by_name == by_path
    assert by_name.name == name
    # the file in recipes/ is the one the package ships
    assert (REPO_RECIPES / f"{name}.yaml").read_text() == shipped_recipe(name)


def test_paper_recipe_has_the_papers_settings():
    r = load_recipe("step-audio-r1")
    assert r.model.base and r.text_pretrain.steps == 0 and r.encoder_pretrain.steps == 0
    assert r.text_rl.samples_per_prompt == 16 and r.text_rl.clip == 0.2 and r.text_rl.kl_coef == 0.0
    assert r.text_rl.max_new_tokens == 10240
    c = r.iterations.curation
    assert (c.k, c.low, c.high, c.strategy) == (8, 3, 6, "range")
    assert (r.iterations.rl.accuracy_weight, r.iterations.rl.format_weight) == (0.8, 0.2)
    assert r.cold_start.audio_cot_share == 0.1


def test_overrides_are_dotted_and_typed(tmp_path):
    r = load_recipe("smoke", ["iterations.rl.format_weight=0", "world.families=[sound, text]", "eval.budgets=[0, null]"])
    assert r.iterations.rl.format_weight == 0.0 and isinstance(r.iterations.rl.format_weight, float)
    assert r.world.families == ["sound", "text"]
    assert r.eval.budgets == [0, None]
    # a dumped recipe reads back to the same recipe
    path = tmp_path / "r.yaml"
    path.write_text(dump_recipe(r))
    assert load_recipe(path) == r


@pytest.mark.parametrize("override, words", [
    ("cold_start.stepz=3", ["stepz", "accepted"]),
    ("iterations.curation.strategy=best", ["strategy", "range, failed, unfiltered"]),
    ("cold_start.cot_style=caption", ["cot_style", "grounded, surrogate"]),
    ("cold_start.audio_cot_share=1.5", ["audio_cot_share"]),
    ("eval.budgets=[-1]", ["budgets"]),
    ("iterations.count=-1", ["iterations.count"]),
    ("cold_start.steps=many", ["cold_start.steps", "int"]),
    ("novalue", ["key=value"]),
    ("data.source=hub", ["data.source", "world, files"]),
    ("data.train=x.jsonl", ["data.train", "data.source is world"]),
    ("eval.endpoint.urls=[ftp://x]", ["eval.endpoint.urls", "'ftp://x'", "http(s) URL"]),
    ("iterations.distill.endpoint.model=m", ["iterations.distill.endpoint.urls is empty"]),
    ("cognition.endpoint.urls=[http://a/v1] cognition.endpoint.shape=vllm", ["cognition.endpoint.shape", "openai, official"]),
    ("iterations.curation.endpoint.urls=[http://a/v1] iterations.curation.endpoint.concurrency=0",
     ["iterations.curation.endpoint.concurrency=0", "1 to 256"]),
])
def test_bad_settings_are_refused_naming_the_key(override, words):
    with pytest.raises(ValueError) as e:
        load_recipe("smoke", override.split(" "))
    assert all(w in str(e.value) for w in words), str(e.value)


def test_unknown_recipe_names_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="tiny, smoke, step-audio-r1"):
        load_recipe("recipes/nothing.yaml")


def test_every_ablation_variant_changes_only_its_setting():
    from mgrd.pipeline.ablations import GROUPS, VARIANTS
    from mgrd.pipeline.recipe import recipe_dict

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    base = flat(recipe_dict(load_recipe("tiny")))
    changed = {}
    for name, overrides in VARIANTS.items():
        variant = flat(recipe_dict(load_recipe("tiny", overrides)))
        changed[name] = {k for k in base if base[k] != variant[k]}
    assert changed["mgrd"] == set()
    assert changed["no_format_reward"] == {"iterations.rl.format_weight", "iterations.rl.accuracy_weight"}
    assert changed["curation_failed"] == changed["curation_unfiltered"] == {"iterations.curation.strategy"}
    assert changed["surrogate_cold_start"] == {"cold_start.cot_style"}
    assert set(GROUPS.values()) == set(VARIANTS)


def test_a_missing_base_checkpoint_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    world = ["world.train=8", "world.heldout=8", "world.families=[sound]", "world.workers=1"]
    proc = subprocess.run([sys.executable, "-m", "mgrd.cli.main", "train", "step-audio-r1",
                           f"model.base={tmp_path / 'nothing'}", *world, "--run-dir", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "model.base=" in proc.stderr and "not a checkpoint directory" in proc.stderr


def test_the_data_section_defaults_to_the_world_and_files_need_train_and_heldout():
    assert load_recipe("smoke").data.source == "world"
    r = load_recipe("smoke", ["data.source=files", "data.train=a.jsonl", "data.heldout=b.jsonl"])
    assert (r.data.source, r.data.train, r.data.rl, r.data.heldout, r.data.dev) == \
        ("files", "a.jsonl", None, "b.jsonl", None)
    with pytest.raises(ValueError, match="data.source=files needs data.heldout"):
        load_recipe("smoke", ["data.source=files", "data.train=a.jsonl"])
    with pytest.raises(ValueError, match="data.source=files needs data.train"):
        load_recipe("smoke", ["data.source=files", "data.heldout=b.jsonl"])


def test_an_endpoint_section_is_read_from_overrides_with_its_defaults():
    r = load_recipe("smoke", ["iterations.distill.endpoint.urls=[http://127.0.0.1:9999/v1, http://127.0.0.1:9998/v1]"])
    e = r.iterations.distill.endpoint
    assert e.urls == ["http://127.0.0.1:9999/v1", "http://127.0.0.1:9998/v1"]
    assert (e.model, e.shape, e.concurrency, e.api_key_env, e.check_model) == (None, "openai", 8, None, True)
    assert r.iterations.curation.endpoint is None and r.eval.endpoint is None      # per stage, native by default
