"""Every shipped recipe builds a valid trainer config for each of its training stages; lengths are checked at load."""

import dataclasses

import pytest

from mgrd.pipeline.recipe import SHIPPED, load_recipe
from mgrd.pipeline.trainer_configs import stage_configs
from mgrd.training.config import DPOConfig, PPOConfig, SFTConfig


@pytest.mark.parametrize("name", SHIPPED)
def test_every_stage_of_every_shipped_recipe_builds_a_valid_trainer_config(name):
    recipe = load_recipe(name)
    configs = stage_configs(recipe)
    it = recipe.iterations
    runs = {"text_pretrain": recipe.text_pretrain.steps, "encoder_pretrain": recipe.encoder_pretrain.steps,
            "audio_pretrain": recipe.audio_pretrain.steps, "cold_start": recipe.cold_start.steps,
            "text_rl": recipe.text_rl.iterations, "cognition": recipe.cognition.steps,
            "iterations.sft": it.count and it.sft.steps, "iterations.rl": it.count and it.rl.iterations}
    assert set(configs) == {stage for stage, n in runs.items() if n > 0}     # a config for every stage that runs
    for cfg in configs.values():
        with pytest.raises(dataclasses.FrozenInstanceError):   # a built config cannot drift from what was checked
            cfg.run = None
    if "text_rl" not in configs:                           # the audio base's recipe: pretraining only
        return
    sft, rl, dpo = configs["iterations.sft"] if it.count else None, configs["text_rl"], configs["cognition"]
    assert isinstance(rl, PPOConfig) and isinstance(dpo, DPOConfig)
    assert rl.micro_batch_size == recipe.text_rl.micro_batch_size
    assert rl.rollout_batch_size == recipe.text_rl.rollout_batch_size
    assert rl.max_length >= recipe.max_prompt_tokens + rl.max_new_tokens
    if sft is not None:
        assert isinstance(sft, SFTConfig)
        assert sft.max_length == it.sft.max_length >= recipe.max_prompt_tokens + it.distill.max_new_tokens


def test_paper_recipe_sft_takes_the_distilled_chains_length():
    configs = stage_configs(load_recipe("step-audio-r1"))
    assert configs["iterations.sft"].max_length >= 10240        # self-distillation samples up to 10,240 tokens
    assert configs["text_rl"].max_length >= 10240 + 2048
    for stage in ("cold_start", "iterations.sft", "text_rl", "iterations.rl", "cognition"):
        assert configs[stage].micro_batch_size >= 1, stage     # never the whole batch in one forward


def test_tiny_recipe_trains_as_before():
    """The new knobs default to what the trainers did before them: whole-batch forwards, 4,096 tokens, 64 rollouts."""
    configs = stage_configs(load_recipe("tiny"))
    assert "text_pretrain" not in configs            # the tiny recipe starts from a shipped audio base
    configs.update(stage_configs(load_recipe("tiny", ["text_pretrain.steps=200", "audio_pretrain.steps=200"])))
    for stage in ("text_pretrain", "audio_pretrain", "cold_start", "iterations.sft"):
        assert (configs[stage].micro_batch_size, configs[stage].max_length) == (0, 4096)
    for stage in ("text_rl", "iterations.rl"):
        c = configs[stage]
        assert (c.micro_batch_size, c.score_batch_size, c.rollout_batch_size) == (0, 0, 64)
    assert (configs["cognition"].micro_batch_size, configs["cognition"].max_length) == (0, 4096)


def test_rl_sections_pass_the_advantage_estimator_through():
    default = stage_configs(load_recipe("tiny"))
    assert default["text_rl"].advantage == default["iterations.rl"].advantage == "gae"   # the paper's PPO
    recipe = load_recipe("tiny", ["text_rl.advantage=grpo", "iterations.rl.advantage=grpo",
                                  "iterations.rl.grpo_scale=none", "iterations.rl.grpo_eps=0.001"])
    configs = stage_configs(recipe)
    assert (configs["text_rl"].advantage, configs["text_rl"].grpo_scale, configs["text_rl"].grpo_eps) == \
        ("grpo", "std", 1e-6)
    assert (configs["iterations.rl"].advantage, configs["iterations.rl"].grpo_scale,
            configs["iterations.rl"].grpo_eps) == ("grpo", "none", 0.001)


def test_grpo_with_one_sample_per_prompt_is_refused_at_load():
    with pytest.raises(ValueError) as e:
        load_recipe("tiny", ["text_rl.advantage=grpo", "text_rl.samples_per_prompt=1"])
    assert all(w in str(e.value) for w in ("text_rl", "samples_per_prompt=1", ">= 2")), str(e.value)


@pytest.mark.parametrize("override, words", [
    ("iterations.sft.max_length=1000", ["iterations.sft.max_length=1000", "iterations.distill.max_new_tokens",
                                        "max_prompt_tokens"]),
    ("text_rl.max_new_tokens=4000", ["text_rl.max_length=4096", "text_rl.max_new_tokens (4000)"]),
    ("cognition.max_length=200", ["cognition.max_length=200", "cognition.max_new_tokens"]),
    ("max_prompt_tokens=0", ["max_prompt_tokens"]),
    ("text_rl.clip=1.5", ["text_rl", "clip=1.5", "(0, 1)"]),
    ("text_rl.micro_batch_size=-1", ["text_rl", "micro_batch_size=-1", ">= 0"]),
    ("cold_start.lr=0", ["cold_start", "lr=0", "> 0"]),
    ("cognition.beta=0", ["cognition", "beta=0"]),
    ("iterations.rl.temperature=0", ["iterations.rl", "temperature=0"]),
    ("text_rl.advantage=reinforce", ["text_rl", "advantage='reinforce'", "gae, grpo"]),
    ("iterations.rl.grpo_scale=max", ["iterations.rl", "grpo_scale='max'", "std, none"]),
])
def test_bad_trainer_settings_are_refused_at_load_naming_the_keys(override, words):
    with pytest.raises(ValueError) as e:
        load_recipe("tiny", [override])
    assert all(w in str(e.value) for w in words), str(e.value)
