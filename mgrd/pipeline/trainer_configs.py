"""The trainer config of every training stage, built from its recipe spec in one place.

The stages call these builders; `stage_configs` builds all of them for a recipe without data (placeholder
paths), so a recipe's trainer settings are validated, and planned (mgrd plan train), before anything runs.
The `spec` arguments are the recipe's sections (mgrd.pipeline.recipe: SFTSpec, EncoderSpec, PPOSpec,
CognitionSpec); recipe.load_recipe calls `stage_configs`, so this module does not import the recipe's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mgrd.training.config import (DPOConfig, EncoderPretrainConfig, OptimConfig, PPOConfig, RunConfig, SFTConfig,
                                  SourceConfig)


def sft_config(spec: Any, model: str, data: Sequence[SourceConfig], run: RunConfig) -> SFTConfig:
    return SFTConfig(model=model, data=list(data), max_steps=spec.steps, batch_size=spec.batch_size,
                     micro_batch_size=spec.micro_batch_size, max_length=spec.max_length,
                     optim=OptimConfig(lr=spec.lr, warmup_steps=spec.warmup_steps, weight_decay=0.0), run=run)


def encoder_config(spec: Any, model: str, data: Sequence[SourceConfig], eval_data: Sequence[SourceConfig],
                   run: RunConfig) -> EncoderPretrainConfig:
    return EncoderPretrainConfig(model=model, data=list(data), eval_data=list(eval_data), max_steps=spec.steps,
                                 batch_size=spec.batch_size, fact_weight=spec.fact_weight,
                                 optim=OptimConfig(lr=spec.lr, warmup_steps=spec.warmup_steps), run=run)


def ppo_config(spec: Any, model: str, prompts: Sequence[SourceConfig], run: RunConfig) -> PPOConfig:
    return PPOConfig(model=model, prompts=list(prompts), iterations=spec.iterations,
                     prompts_per_iteration=spec.prompts_per_iteration, samples_per_prompt=spec.samples_per_prompt,
                     max_new_tokens=spec.max_new_tokens, temperature=spec.temperature, reward="modality",
                     accuracy_weight=spec.accuracy_weight, format_weight=spec.format_weight, epochs=spec.epochs,
                     minibatch_size=spec.minibatch_size, micro_batch_size=spec.micro_batch_size, clip=spec.clip,
                     kl_coef=spec.kl_coef, rollout_batch_size=spec.rollout_batch_size,
                     score_batch_size=spec.score_batch_size, max_length=spec.max_length,
                     advantage=spec.advantage, grpo_scale=spec.grpo_scale, grpo_eps=spec.grpo_eps,
                     optim=OptimConfig(lr=spec.lr), critic_optim=OptimConfig(lr=spec.critic_lr), run=run)


def dpo_config(spec: Any, model: str, pairs: Sequence[SourceConfig], run: RunConfig) -> DPOConfig:
    return DPOConfig(model=model, pairs=list(pairs), max_steps=spec.steps, batch_size=spec.batch_size,
                     micro_batch_size=spec.micro_batch_size, beta=spec.beta, max_length=spec.max_length,
                     optim=OptimConfig(lr=spec.lr), run=run)


def stage_configs(recipe: Any, model: str = "MODEL") -> dict[str, object]:
    """Every training stage's trainer config (stages with 0 steps left out), on placeholder data paths."""
    src = [SourceConfig("DATA.jsonl")]
    run = RunConfig(dir="RUN", seed=recipe.seed, activation_checkpointing=recipe.activation_checkpointing)
    it = recipe.iterations
    sft = {"text_pretrain": recipe.text_pretrain, "audio_pretrain": recipe.audio_pretrain,
           "cold_start": recipe.cold_start, "iterations.sft": it.sft}
    todo = [(name, lambda spec=spec: sft_config(spec, model, src, run)) for name, spec in sft.items()
            if spec.steps > 0 and (name != "iterations.sft" or it.count > 0)]
    if recipe.encoder_pretrain.steps > 0:
        todo.append(("encoder_pretrain", lambda: encoder_config(recipe.encoder_pretrain, model, src, [], run)))
    if recipe.text_rl.iterations > 0:
        todo.append(("text_rl", lambda: ppo_config(recipe.text_rl, model, src, run)))
    if it.count > 0 and it.rl.iterations > 0:
        todo.append(("iterations.rl", lambda: ppo_config(it.rl, model, src, run)))
    if recipe.cognition.steps > 0:
        todo.append(("cognition", lambda: dpo_config(recipe.cognition, model, src, run)))
    out: dict[str, object] = {}
    for name, build in todo:
        try:
            out[name] = build()
        except ValueError as e:   # name the recipe section, not only the trainer's key
            raise ValueError(f"{name}: {e}") from None
    return out
