"""The stages before MGRD proper: the data (world or files), the base model, the three pretraining stand-ins, cold start.

Each function takes the `Context` of a run and the upstream stage results, and returns the
StageResult of its stage, whose `output` is a typed artifact (mgrd.pipeline.outputs): a model
stage's `output.model` is the ModelDir it produced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mgrd.data.records import Record
from mgrd.pipeline import data as D
from mgrd.pipeline.artifacts import ModelDir, RecordFile, file_digest, files_digest
from mgrd.pipeline.encoder_data import encoder_probe_sources, encoder_sources
from mgrd.pipeline.outputs import BaseModel, DataReport, DataSet, EncoderTrained, HasModel, RLPoint, RLTrained, Trained
from mgrd.pipeline.recipe import DATA_SPLITS, PPOSpec, Recipe, SFTSpec
from mgrd.pipeline.runner import Runner, StageResult, finished, read_json, rl_series
from mgrd.progress import progress_hook
from mgrd.training.config import RunConfig, SourceConfig

HERE = "mgrd.pipeline.stages"
SFT_CODE = (HERE, "mgrd.training.sft")
PPO_CODE = (HERE, "mgrd.training.ppo")


@dataclass
class Context:
    """A run: its recipe, runner and its data's records (read once)."""

    recipe: Recipe
    runner: Runner
    say: Callable[[str], None] = print
    progress: bool = True
    data: DataSet | None = None
    _records: dict[str, list[Record]] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.runner.run_dir

    @property
    def world_dir(self) -> Path:
        """The directory relative audio paths resolve against (a user file's records hold absolute ones)."""
        return Path(self.data.root)

    def records(self, split: str) -> list[Record]:
        if split not in self._records:
            if self.recipe.data.source == "files":
                from mgrd.pipeline.sources import read_record_file

                path = getattr(self.recipe.data, split)
                if not path:
                    raise ValueError(f"the recipe has no data.{split} file")
                self._records[split] = read_record_file(path)
            else:
                from mgrd.data.dataset import read_split

                self._records[split] = list(read_split(self.world_dir, split))
        return self._records[split]

    @cached_property
    def audio_items(self) -> list[Record]:
        return [r for r in self.records("train") if D.is_audio_item(r)]

    @cached_property
    def text_items(self) -> list[Record]:
        return [r for r in self.records("train") if D.is_text_item(r)]

    @cached_property
    def rl_items(self) -> list[Record]:
        """The audio questions of RL curation: the `rl` file's, else train's second half first (apart from
        the distillation questions, which start at the beginning)."""
        if self.recipe.data.rl:
            return [r for r in self.records("rl") if D.is_audio_item(r)]
        half = len(self.audio_items) // 2
        return self.audio_items[half:] + self.audio_items[:half]

    def run_config(self, sdir: Path, steps: int) -> RunConfig:
        # The stage key already pins config and data (a changed key clears the stage directory), so a
        # resume may accept what the key does not cover: a different number of processes, as when a
        # stage was run forward under torchrun with this config.
        return RunConfig(dir=str(sdir / "train"), seed=self.recipe.seed, save_every=max(5, steps // 4), keep_last=1,
                         progress=self.progress, allow_changed=True,
                         activation_checkpointing=self.recipe.activation_checkpointing)


def settings(*specs) -> list:
    """Plain data of dataclass specs, for stage keys."""
    return [dataclasses.asdict(s) if dataclasses.is_dataclass(s) else s for s in specs]


def model_of(stage: StageResult[HasModel]) -> str:
    """The model directory a stage produced (the one the next stage starts from)."""
    return stage.output.model.path


# ---- data and base model -------------------------------------------------------------------------
def split_report(split: str, records: Sequence[Record]) -> DataReport:
    return DataReport(split, len(records), sum(D.is_audio_item(r) for r in records),
                      sum(D.is_text_item(r) for r in records), sum(bool(r.facts) for r in records),
                      sum(D.has_chain(r) for r in records))


def data(ctx: Context) -> StageResult[DataSet]:
    """The run's records: the generated world, or the recipe's record files (checked, then fingerprinted)."""
    if ctx.recipe.data.source == "world":
        return world(ctx)
    spec = ctx.recipe.data
    splits = [s for s in DATA_SPLITS if getattr(spec, s)]
    for split in ("train", "rl", "heldout"):   # what self-distillation, curation and evaluation ask
        if split in splits and not any(D.is_audio_item(r) for r in ctx.records(split)):
            raise ValueError(f"data.{split} ({getattr(spec, split)}) has no question with audio; MGRD trains and "
                             "evaluates on audio questions (records with an `audio` list)")
    # The key covers the files' contents and every clip they name: edited data reruns what depends on it.
    fingerprint = {s: {"records": file_digest(getattr(spec, s)),
                       "audio": files_digest({a: file_digest(a) for r in ctx.records(s) for a in r.audio})}
                   for s in splits}

    def work(sdir: Path) -> DataSet:
        reports = tuple(split_report(s, ctx.records(s)) for s in splits)
        for r in reports:
            ctx.say(f"  data.{r.split}: {r.records} records ({r.audio} with audio, {r.text} text, "
                    f"{r.with_facts} with facts, {r.with_chain} with a reasoning chain)")
        return DataSet("files", str(Path(spec.train).resolve().parent),
                       {s: RecordFile.of(getattr(spec, s)) for s in splits}, reports)

    result = ctx.runner.stage("data", settings(spec, fingerprint), [], work, code=(HERE, "mgrd.pipeline.sources"))
    ctx.data = result.output
    return result


def world(ctx: Context) -> StageResult[DataSet]:
    from mgrd.data.dataset import read_split, split_path
    from mgrd.data.world.generate import WorldConfig, generate_split
    from mgrd.data.world.voice import voice_missing

    spec = ctx.recipe.world
    missing = voice_missing()
    families = list(spec.families) if spec.families else None
    if missing and (families is None or "speech" in families):
        ctx.say(f"the speech family is left out: {missing}")
        families = [f for f in (families or ["sound", "music", "speech", "composite", "cognition", "text"])
                    if f != "speech"]

    def work(sdir: Path) -> DataSet:
        root = sdir / "data"
        for split, n in (("train", spec.train), ("heldout", spec.heldout)):
            cfg = WorldConfig(split, n, tuple(families) if families else None, spec.seed, spec.bait_share)
            generate_split(root, cfg, workers=spec.workers, on_message=ctx.say,
                           on_progress=progress_hook(f"world {split}", unit="items", enabled=ctx.progress))
        reports = tuple(split_report(s, list(read_split(root, s))) for s in ("train", "heldout"))
        return DataSet("world", str(root.resolve()), {s: RecordFile.of(split_path(root, s)) for s in ("train", "heldout")},
                       reports, tuple(families) if families else "all", not missing)

    result = ctx.runner.stage("world", settings(spec, families), [], work,
                              code=(HERE, "mgrd.data.world.generate", "mgrd.data.world.voice"))
    ctx.data = result.output
    return result


def base_model(ctx: Context, data_stage: StageResult[DataSet]) -> StageResult[BaseModel]:
    """The starting checkpoint: `model.base` (a checkpoint directory or a shipped audio base), or a new tiny
    model whose tokenizer and decoder come from `model.text_base` or are a BPE trained on the data's text and
    random weights."""
    spec = ctx.recipe.model
    if spec.base:   # the data stays upstream: later stages read it
        from mgrd.pipeline import audio_base as AB

        base = AB.resolve(spec.base)
        released = ModelDir.of(base.path)   # its digest in the key: new weights at the same path rerun
        return ctx.runner.stage("base", settings(spec, released.digest), [data_stage],
                                lambda sdir: BaseModel(released, probes=base.probes),
                                code=(HERE, "mgrd.pipeline.audio_base"))

    text_base = None
    if spec.text_base:
        from mgrd.pipeline import text_base as TB

        text_base = TB.resolve(spec.text_base)
        TB.check_fits(text_base, spec)

    def work(sdir: Path) -> BaseModel:
        from mgrd.model import AudioTokenIds, build_model, save_pretrained
        from mgrd.model.config import AdaptorConfig, AudioLMConfig, EncoderConfig, TextConfig
        from mgrd.model.presets import TINY_MAX_POSITIONS

        tokenizer = TB.tokenizer(text_base) if text_base else _train_tokenizer(ctx, spec.vocab_size)
        sp = tokenizer.special
        config = AudioLMConfig(
            text=TextConfig(vocab_size=-(-tokenizer.vocab_size // 64) * 64, hidden_size=spec.hidden_size,
                            intermediate_size=spec.intermediate_size, num_hidden_layers=spec.layers,
                            num_attention_heads=spec.heads, num_key_value_heads=spec.kv_heads, rms_norm_eps=1e-6,
                            rope_theta=1e6, max_position_embeddings=TINY_MAX_POSITIONS, eos_token_id=(sp.eot, sp.endoftext),
                            pad_token_id=sp.endoftext, torch_dtype="float32"),
            encoder=EncoderConfig(n_mels=128, n_audio_ctx=1500, n_audio_state=spec.encoder_dim,
                                  n_audio_head=spec.encoder_heads, n_audio_layer=spec.encoder_layers),
            adaptor=AdaptorConfig(llm_dim=spec.hidden_size, n_audio_state=spec.encoder_dim,
                                  adapter_state=spec.adaptor_dim),
            audio_token_ids=AudioTokenIds.of(sp))
        model = build_model(config, seed=ctx.recipe.seed)
        if text_base:
            TB.load_into(model, text_base)
        save_pretrained(model, sdir / "model", tokenizer=tokenizer)
        return BaseModel(ModelDir.of(sdir / "model"), sum(p.numel() for p in model.parameters()))

    return ctx.runner.stage("base", settings(spec, *([text_base.digest] if text_base else [])), [data_stage], work,
                            code=(HERE, "mgrd.chat", "mgrd.chat.corpus", "mgrd.model", "mgrd.model.config",
                                  "mgrd.pipeline.text_base"))


def _train_tokenizer(ctx: Context, vocab_size: int):
    """A byte-level BPE trained on the tiny corpus and every conversation of the train split."""
    from mgrd.chat import train_tokenizer
    from mgrd.chat.corpus import tiny_corpus

    texts = tiny_corpus() + [m["content"] if isinstance(m["content"], str) else
                             " ".join(p.get("text", "") for p in m["content"])
                             for r in ctx.records("train") for style in ("grounded", "surrogate", "empty")
                             for m in D.messages_for(r, style)]
    return train_tokenizer(texts, vocab_size=vocab_size)


# ---- supervised stages ---------------------------------------------------------------------------
def sft_stage(ctx: Context, name: str, spec: SFTSpec, upstream: list[StageResult], model_from: StageResult[HasModel],
              make_sources: Callable[[Path], list[SourceConfig]], extra_settings=None,
              code: Sequence[str] = ()) -> StageResult[HasModel]:
    """An SFT stage on sources written by `make_sources(stage_dir)`; steps 0 skips it."""
    if spec.steps <= 0:
        return model_from

    def work(sdir: Path) -> Trained:
        from mgrd.pipeline.trainer_configs import sft_config
        from mgrd.training.sft import train_sft

        cfg = sft_config(spec, model_of(model_from), make_sources(sdir), ctx.run_config(sdir, spec.steps))
        result = finished(train_sft(cfg))
        losses = result.losses
        return Trained(ModelDir.of(result.model_dir), result.steps,
                       sum(losses[-10:]) / len(losses[-10:]) if losses else None)

    return ctx.runner.stage(name, settings(spec, extra_settings), upstream + [model_from], work,
                            code=(*SFT_CODE, *code))


def skipped(ctx: Context, name: str, why: str, upstream: StageResult) -> StageResult:
    """Say that a stage is left out for want of data, and hand on its upstream model."""
    ctx.say(f"[skip] {name}: {why}")
    return upstream


def text_pretrain(ctx: Context, base: StageResult[HasModel]) -> StageResult[HasModel]:
    """Language modelling (loss on every token) on the text items: the stand-in for a text LLM."""
    if not ctx.text_items and ctx.recipe.text_pretrain.steps > 0:
        return skipped(ctx, "text_pretrain", "the train data has no text records (records without audio)", base)

    def sources(sdir: Path) -> list[SourceConfig]:
        recs = [D.sft_record(r, ctx.world_dir, "grounded") for r in ctx.text_items]
        return [SourceConfig(D.write(sdir / "text.jsonl", recs), loss_on="all")]

    return sft_stage(ctx, "text_pretrain", ctx.recipe.text_pretrain, [], base, sources)


def encoder_pretrain(ctx: Context, upstream: StageResult) -> StageResult:
    """Encoder + adaptor on the facts of every clip through auxiliary heads; frozen afterwards."""
    spec = ctx.recipe.encoder_pretrain
    if spec.steps <= 0:
        return upstream

    def work(sdir: Path) -> EncoderTrained:
        from mgrd.pipeline.trainer_configs import encoder_config
        from mgrd.training.encoder_pretrain import train_encoder

        cfg = encoder_config(spec, model_of(upstream), encoder_sources(ctx, sdir, spec),
                             encoder_probe_sources(ctx, sdir, spec), ctx.run_config(sdir, spec.steps))
        result = finished(train_encoder(cfg))
        last = result.history[-1] if result.history else {}
        probes = Path(cfg.run.dir) / "probes.json"
        return EncoderTrained(ModelDir.of(result.model_dir), result.steps,
                              {k: v for k, v in last.items() if k.endswith(("_acc", "_mae"))},
                              read_json(probes) if probes.is_file() else None)

    return ctx.runner.stage("encoder_pretrain", settings(spec), [upstream], work,
                            code=(HERE, "mgrd.training.encoder_pretrain"))


def audio_pretrain(ctx: Context, upstream: StageResult[HasModel]) -> StageResult[HasModel]:
    """Perception questions (answer only) and descriptions (from facts-checked chains) through the decoder,
    encoder frozen."""
    def sources(sdir: Path) -> list[SourceConfig]:
        answers = [D.sft_record(r, ctx.world_dir, "empty") for r in ctx.audio_items]
        described = [d for r in ctx.audio_items if (d := D.description_record(r, ctx.world_dir))]
        out = [SourceConfig(D.write(sdir / "answers.jsonl", answers))]
        if described:   # every world clip has one; user records only where a chain states checked facts
            out.append(SourceConfig(D.write(sdir / "descriptions.jsonl", described)))
        return out

    return sft_stage(ctx, "audio_pretrain", ctx.recipe.audio_pretrain, [], upstream, sources)


def cold_start(ctx: Context, upstream: StageResult[HasModel]) -> StageResult[HasModel]:
    """Text CoT + audio with empty think + audio CoT (a share of the audio items) + self-cognition bait.

    Audio CoT comes only from records that carry a chain in `cot_style` (every world record; user
    records with `reasoning`); the other audio records are trained with an empty think.
    """
    spec = ctx.recipe.cold_start

    def sources(sdir: Path) -> list[SourceConfig]:
        audio = ctx.audio_items
        n_cot = round(spec.audio_cot_share * len(audio))
        cot = [r for r in audio if D.has_chain(r, spec.cot_style)][:n_cot]
        chosen = {id(r) for r in cot}
        empty = [r for r in audio if id(r) not in chosen]
        if len(cot) < n_cot:
            ctx.say(f"  cold start: {len(cot)} audio records carry a {spec.cot_style} chain "
                    f"(audio_cot_share asks for {n_cot}); the rest are trained with an empty think")
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
def ppo_stage(ctx: Context, name: str, spec: PPOSpec, upstream: list[StageResult], model_from: StageResult[HasModel],
              make_sources: Callable[[Path], list[SourceConfig]], extra_settings=None,
              code: Sequence[str] = ()) -> StageResult[HasModel]:
    """PPO with the records' grader and the modality reward (eq. 8); iterations 0 skips it."""
    if spec.iterations <= 0:
        return model_from

    def work(sdir: Path) -> RLTrained:
        from mgrd.pipeline.trainer_configs import ppo_config
        from mgrd.training.ppo import train_ppo

        cfg = ppo_config(spec, model_of(model_from), make_sources(sdir), ctx.run_config(sdir, spec.iterations))
        result = finished(train_ppo(cfg, grader=D.world_grader))
        series = tuple(RLPoint(**p) for p in rl_series(Path(cfg.run.dir) / "metrics.jsonl"))
        return RLTrained(ModelDir.of(result.model_dir), result.steps, series)

    return ctx.runner.stage(name, settings(spec, extra_settings), upstream + [model_from], work,
                            code=(*PPO_CODE, "mgrd.tasks.world", *code))


def text_rl(ctx: Context, upstream: StageResult[HasModel]) -> StageResult[HasModel]:
    """Text RLVR: PPO on the text questions, reward = accuracy."""
    if not ctx.text_items and ctx.recipe.text_rl.iterations > 0:
        return skipped(ctx, "text_rl", "the train data has no text records (records without audio)", upstream)

    def sources(sdir: Path) -> list[SourceConfig]:
        recs = [D.prompt_record(r, ctx.world_dir) for r in ctx.text_items]
        return [SourceConfig(D.write(sdir / "prompts.jsonl", recs))]

    return ppo_stage(ctx, "text_rl", ctx.recipe.text_rl, [], upstream, sources)
