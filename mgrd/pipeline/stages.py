"""The stages before MGRD proper: the world, the tiny base model and the three pretraining stand-ins, cold start.

Each function takes the `Context` of a run and the upstream stage results, and returns the
StageResult of its stage (info["model"] is the model directory a stage produced).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

from mgrd.data.records import Record
from mgrd.pipeline import data as D
from mgrd.pipeline.recipe import PPOSpec, Recipe, SFTSpec
from mgrd.pipeline.runner import Runner, StageResult, finished, read_json, rl_series
from mgrd.training.config import OptimConfig, RunConfig, SourceConfig


@dataclass
class Context:
    """A run: its recipe, runner and the world's records (read once)."""

    recipe: Recipe
    runner: Runner
    say: Callable[[str], None] = print
    progress: bool = True
    world_dir: Path | None = None
    _records: dict[str, list[Record]] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.runner.run_dir

    def records(self, split: str) -> list[Record]:
        if split not in self._records:
            from mgrd.data.dataset import read_split

            self._records[split] = list(read_split(self.world_dir, split))
        return self._records[split]

    @cached_property
    def audio_items(self) -> list[Record]:
        return [r for r in self.records("train") if D.is_audio_item(r)]

    @cached_property
    def text_items(self) -> list[Record]:
        return [r for r in self.records("train") if D.is_text_item(r)]

    def run_config(self, sdir: Path, steps: int) -> RunConfig:
        # The stage key already pins config and data (a changed key clears the stage directory), so a
        # resume may accept what the key does not cover: a different number of processes, as when a
        # stage was run forward under torchrun with this config.
        return RunConfig(dir=str(sdir / "train"), seed=self.recipe.seed, save_every=max(5, steps // 4), keep_last=1,
                         progress=self.progress, allow_changed=True)


def settings(*specs) -> list:
    """Plain data of dataclass specs, for stage keys."""
    return [dataclasses.asdict(s) if dataclasses.is_dataclass(s) else s for s in specs]


# ---- world and base model ------------------------------------------------------------------------
def world(ctx: Context) -> StageResult:
    from mgrd.data.world.generate import WorldConfig, generate_split
    from mgrd.data.world.voice import voice_missing

    spec = ctx.recipe.world
    missing = voice_missing()
    families = list(spec.families) if spec.families else None
    if missing and (families is None or "speech" in families):
        ctx.say(f"the speech family is left out: {missing}")
        families = [f for f in (families or ["sound", "music", "speech", "composite", "cognition", "text"])
                    if f != "speech"]

    def work(sdir: Path) -> dict:
        out = {}
        for split, n in (("train", spec.train), ("heldout", spec.heldout)):
            cfg = WorldConfig(split, n, tuple(families) if families else None, spec.seed, spec.bait_share)
            entry = generate_split(sdir / "data", cfg, workers=spec.workers, on_message=ctx.say)
            out[split] = entry["records"]
        return {"world": {**out, "families": families or "all", "speech": not missing}, "dir": str(sdir / "data")}

    result = ctx.runner.stage("world", settings(spec, families), [], work)
    ctx.world_dir = Path(result.info["dir"])
    return result


def base_model(ctx: Context, world_stage: StageResult) -> StageResult:
    """The starting checkpoint: `model.base`, or a new tiny model with a BPE trained on the world's text."""
    spec = ctx.recipe.model
    if spec.base:   # the world stays upstream: later stages read its data
        def released(sdir: Path) -> dict:
            if not (Path(spec.base) / "config.json").is_file():
                raise FileNotFoundError(f"model.base={spec.base} is not a checkpoint directory (no config.json); "
                                        "give a local Step-Audio-2-mini or Step-Audio-R1 directory")
            return {"model": str(Path(spec.base).resolve())}

        return ctx.runner.stage("base", settings(spec), [world_stage], released)

    def work(sdir: Path) -> dict:
        from mgrd.chat import train_tokenizer
        from mgrd.chat.corpus import tiny_corpus
        from mgrd.model import AudioTokenIds, build_model, save_pretrained
        from mgrd.model.config import AdaptorConfig, AudioLMConfig, EncoderConfig, TextConfig

        texts = tiny_corpus() + [m["content"] if isinstance(m["content"], str) else
                                 " ".join(p.get("text", "") for p in m["content"])
                                 for r in ctx.records("train") for style in ("grounded", "surrogate", "empty")
                                 for m in D.messages_for(r, style)]
        tokenizer = train_tokenizer(texts, vocab_size=spec.vocab_size)
        sp = tokenizer.special
        config = AudioLMConfig(
            text=TextConfig(vocab_size=-(-tokenizer.vocab_size // 64) * 64, hidden_size=spec.hidden_size,
                            intermediate_size=spec.intermediate_size, num_hidden_layers=spec.layers,
                            num_attention_heads=spec.heads, num_key_value_heads=spec.kv_heads, rms_norm_eps=1e-6,
                            rope_theta=1e6, max_position_embeddings=4096, eos_token_id=(sp.eot, sp.endoftext),
                            pad_token_id=sp.endoftext, torch_dtype="float32"),
            encoder=EncoderConfig(n_mels=128, n_audio_ctx=1500, n_audio_state=spec.encoder_dim,
                                  n_audio_head=spec.encoder_heads, n_audio_layer=spec.encoder_layers),
            adaptor=AdaptorConfig(llm_dim=spec.hidden_size, n_audio_state=spec.encoder_dim,
                                  adapter_state=spec.adaptor_dim),
            audio_token_ids=AudioTokenIds(sp.audio_start, sp.audio_end, sp.audio_patch))
        model = build_model(config, seed=ctx.recipe.seed)
        save_pretrained(model, sdir / "model", tokenizer=tokenizer)
        return {"model": str(sdir / "model"), "parameters": sum(p.numel() for p in model.parameters())}

    return ctx.runner.stage("base", settings(spec), [world_stage], work)


# ---- supervised stages ---------------------------------------------------------------------------
def sft_stage(ctx: Context, name: str, spec: SFTSpec, upstream: list[StageResult], model_from: StageResult,
              make_sources: Callable[[Path], list[SourceConfig]], extra_settings=None) -> StageResult:
    """An SFT stage on sources written by `make_sources(stage_dir)`; steps 0 skips it."""
    if spec.steps <= 0:
        return model_from

    def work(sdir: Path) -> dict:
        from mgrd.training.config import SFTConfig
        from mgrd.training.sft import train_sft

        cfg = SFTConfig(model=model_from.info["model"], data=make_sources(sdir), max_steps=spec.steps,
                        batch_size=spec.batch_size, max_length=4096,
                        optim=OptimConfig(lr=spec.lr, warmup_steps=spec.warmup_steps, weight_decay=0.0),
                        run=ctx.run_config(sdir, spec.steps))
        result = finished(train_sft(cfg))
        losses = result.losses
        return {"model": str(result.model_dir), "steps": result.steps,
                "final_loss": sum(losses[-10:]) / len(losses[-10:]) if losses else None}

    return ctx.runner.stage(name, settings(spec, extra_settings), upstream + [model_from], work)


def text_pretrain(ctx: Context, base: StageResult) -> StageResult:
    """Language modelling (loss on every token) on the world's text items: the stand-in for a text LLM."""
    def sources(sdir: Path) -> list[SourceConfig]:
        recs = [D.sft_record(r, ctx.world_dir, "grounded") for r in ctx.text_items]
        return [SourceConfig(D.write(sdir / "text.jsonl", recs), loss_on="all")]

    return sft_stage(ctx, "text_pretrain", ctx.recipe.text_pretrain, [], base, sources)


def encoder_pretrain(ctx: Context, upstream: StageResult) -> StageResult:
    """Encoder + adaptor on the facts of every clip through auxiliary heads; frozen afterwards."""
    spec = ctx.recipe.encoder_pretrain
    if spec.steps <= 0:
        return upstream

    def work(sdir: Path) -> dict:
        from mgrd.training.config import EncoderPretrainConfig
        from mgrd.training.encoder_pretrain import train_encoder

        cfg = EncoderPretrainConfig(model=upstream.info["model"], data=encoder_sources(ctx, sdir, spec),
                                    eval_data=encoder_probe_sources(ctx, sdir, spec), max_steps=spec.steps,
                                    batch_size=spec.batch_size,
                                    optim=OptimConfig(lr=spec.lr, warmup_steps=spec.warmup_steps),
                                    run=ctx.run_config(sdir, spec.steps))
        result = finished(train_encoder(cfg))
        last = result.history[-1] if result.history else {}
        probes = Path(cfg.run.dir) / "probes.json"
        return {"model": str(result.model_dir), "steps": result.steps,
                "final": {k: v for k, v in last.items() if k.endswith(("_acc", "_mae"))},
                "probes": read_json(probes) if probes.is_file() else None}

    return ctx.runner.stage("encoder_pretrain", settings(spec), [upstream], work)


def encoder_sources(ctx: Context, sdir: Path, spec) -> list[SourceConfig]:
    """The stored clips of the train split and, with `streamed_share`, references to fresh world items
    (one per sample drawn, so no streamed clip is seen twice)."""
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


def encoder_probe_sources(ctx: Context, sdir: Path, spec) -> list[SourceConfig]:
    """The first `probe_clips` clips of the held-out split, for the encoder's probe accuracy."""
    if spec.probe_clips <= 0:
        return []
    clips = D.encoder_records(ctx.records("heldout"), ctx.world_dir)[:spec.probe_clips]
    return [SourceConfig(D.write(sdir / "probe_clips.jsonl", clips))] if clips else []


def audio_pretrain(ctx: Context, upstream: StageResult) -> StageResult:
    """Perception questions (answer only) and descriptions through the decoder, encoder frozen."""
    def sources(sdir: Path) -> list[SourceConfig]:
        answers = [D.sft_record(r, ctx.world_dir, "empty") for r in ctx.audio_items]
        described = [d for r in ctx.audio_items if (d := D.description_record(r, ctx.world_dir))]
        return [SourceConfig(D.write(sdir / "answers.jsonl", answers)),
                SourceConfig(D.write(sdir / "descriptions.jsonl", described))]

    return sft_stage(ctx, "audio_pretrain", ctx.recipe.audio_pretrain, [], upstream, sources)


def cold_start(ctx: Context, upstream: StageResult) -> StageResult:
    """Text CoT + audio with empty think + audio CoT (a share of the audio items) + self-cognition bait."""
    spec = ctx.recipe.cold_start

    def sources(sdir: Path) -> list[SourceConfig]:
        audio = ctx.audio_items
        n_cot = round(spec.audio_cot_share * len(audio))
        cot, empty = audio[:n_cot], audio[n_cot:]
        bait = [r for r in ctx.records("train") if D.is_bait(r)]
        parts = [("text_cot", [D.sft_record(r, ctx.world_dir, "grounded") for r in ctx.text_items], spec.text_ratio),
                 ("audio_empty", [D.sft_record(r, ctx.world_dir, "empty") for r in empty], spec.audio_ratio),
                 ("audio_cot", [D.sft_record(r, ctx.world_dir, spec.cot_style) for r in cot], spec.audio_ratio),
                 # Bait dialogues keep their stored denial: the error self-cognition correction must fix.
                 ("bait", [{"id": r.id, "messages": D.absolute(r.messages, ctx.world_dir)} for r in bait],
                  spec.bait_ratio)]
        return [SourceConfig(D.write(sdir / f"{name}.jsonl", recs), ratio=len(recs) * ratio)
                for name, recs, ratio in parts if recs and ratio > 0]

    return sft_stage(ctx, "cold_start", spec, [], upstream, sources)


# ---- PPO -----------------------------------------------------------------------------------------
def ppo_stage(ctx: Context, name: str, spec: PPOSpec, upstream: list[StageResult], model_from: StageResult,
              make_sources: Callable[[Path], list[SourceConfig]], extra_settings=None) -> StageResult:
    """PPO with the world's grader and the modality reward (eq. 8); iterations 0 skips it."""
    if spec.iterations <= 0:
        return model_from

    def work(sdir: Path) -> dict:
        from mgrd.training.config import PPOConfig
        from mgrd.training.ppo import train_ppo

        cfg = PPOConfig(model=model_from.info["model"], prompts=make_sources(sdir), iterations=spec.iterations,
                        prompts_per_iteration=spec.prompts_per_iteration, samples_per_prompt=spec.samples_per_prompt,
                        max_new_tokens=spec.max_new_tokens, temperature=spec.temperature, reward="modality",
                        accuracy_weight=spec.accuracy_weight, format_weight=spec.format_weight, epochs=spec.epochs,
                        minibatch_size=spec.minibatch_size, clip=spec.clip, kl_coef=spec.kl_coef,
                        optim=OptimConfig(lr=spec.lr), critic_optim=OptimConfig(lr=spec.critic_lr),
                        run=ctx.run_config(sdir, spec.iterations))
        result = finished(train_ppo(cfg, grader=D.world_grader))
        return {"model": str(result.model_dir), "iterations": result.steps,
                "rl": rl_series(Path(cfg.run.dir) / "metrics.jsonl")}

    return ctx.runner.stage(name, settings(spec, extra_settings), upstream + [model_from], work)


def text_rl(ctx: Context, upstream: StageResult) -> StageResult:
    """Text RLVR: PPO on the world's text questions, reward = accuracy."""
    def sources(sdir: Path) -> list[SourceConfig]:
        recs = [D.prompt_record(r, ctx.world_dir) for r in ctx.text_items]
        return [SourceConfig(D.write(sdir / "prompts.jsonl", recs))]

    return ppo_stage(ctx, "text_rl", ctx.recipe.text_rl, [], upstream, sources)
