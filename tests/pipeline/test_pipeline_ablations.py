"""`mgrd experiment ablations`: every variant's overrides load; on the smoke recipe, variants reuse the MGRD
run's common stages."""

import json

import pytest

from mgrd.pipeline.ablations import GROUPS, VARIANTS, run_ablations
from mgrd.pipeline.recipe import load_recipe
from mgrd.pipeline.trainer_configs import stage_configs


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_loads_on_the_shipped_recipes(name):
    for recipe in ("tiny", "smoke"):
        load_recipe(recipe, [*VARIANTS[name], f"name={name}"])
    assert set(GROUPS.values()) <= set(VARIANTS)


def test_the_grpo_variant_runs_both_rl_stages_without_a_critic():
    configs = stage_configs(load_recipe("tiny", VARIANTS["grpo"]))
    assert configs["text_rl"].advantage == configs["iterations.rl"].advantage == "grpo"
    mgrd = stage_configs(load_recipe("tiny", VARIANTS["mgrd"]))
    assert mgrd["text_rl"].advantage == mgrd["iterations.rl"].advantage == "gae"
    assert GROUPS["rl_estimator/ppo (critic)"] == "mgrd" and GROUPS["rl_estimator/grpo"] == "grpo"
    # nothing before the RL stages changes, so the variant shares them with the MGRD run
    before_rl = [k for k in ("text_pretrain", "audio_pretrain", "cold_start") if k in mgrd]
    assert "cold_start" in before_rl and set(before_rl) <= set(configs)
    assert all(configs[k] == mgrd[k] for k in before_rl)


@pytest.mark.slow
def test_a_variant_reuses_the_common_prefix_and_the_comparison_is_written(tmp_path):
    said: list[str] = []
    report = run_ablations("smoke", tmp_path, only=["curation_failed"], say=said.append, progress=False)

    variant_log = said[said.index("== ablation variant curation_failed =="):]
    shared = {line.split()[1].rstrip(":") for line in variant_log if line.startswith("[shared]")}
    ran = {line.split()[1] for line in variant_log if line.startswith("[run]")}
    # everything up to the curation is the MGRD run's; the curation and what follows it are recomputed
    assert {"world", "cold_start", "text_rl", "iter1/distill", "iter1/sft"} <= shared
    assert ran == {"iter1/curate", "iter1/rl", "cognition", "eval/final"}
    for name in ("mgrd", "curation_failed"):
        assert json.loads((tmp_path / name / "summary.json").read_text())["finished"] is True
    assert json.loads((tmp_path / "curation_failed/summary.json").read_text())["curation"]["iter1"]["strategy"] \
        == "failed"
    text = report.read_text()
    assert "## curation" in text and "failed (pass=0)" in text and "range [3,6]" in text
