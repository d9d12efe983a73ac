"""The MGRD recipe: one typed config for the whole pipeline, read from YAML with `key=value` overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mgrd.training.config import config_data, from_dict, to_dict


@dataclass
class WorldSpec:
    """The synthetic world the run trains and evaluates on (speech needs the `speech` extra)."""

    train: int = 2000
    heldout: int = 200
    families: list[str] | None = None
    seed: int = 0
    bait_share: float = 0.25
    workers: int = 2


@dataclass
class DataSpec:
    """Where the records come from: `world` (the world stage generates them from `world:`) or `files`:
    JSONL record files of your own (docs/pipeline.md, "Data"); paths relative to the working directory.
    `rl` defaults to the second half of train's audio questions; `dev` is validated and counted only."""

    source: str = "world"
    train: str | None = None
    rl: str | None = None
    heldout: str | None = None
    dev: str | None = None


@dataclass
class ModelSpec:
    """Where the model comes from: `base` (a checkpoint directory) or a new tiny model of these sizes.

    `text_base` (a new model only): a shipped text base's name or a directory made by
    `mgrd export-text-base`; its tokenizer and decoder weights replace the new model's
    (mgrd.pipeline.text_base), so the layer sizes must be the base's (vocab_size then goes unused).
    """

    base: str | None = None
    text_base: str | None = None
    vocab_size: int = 1024
    hidden_size: int = 256
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 768
    encoder_dim: int = 128
    encoder_layers: int = 3
    encoder_heads: int = 4
    adaptor_dim: int = 512


@dataclass
class SFTSpec:
    """A supervised stage (steps 0 skips it)."""

    steps: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 10
    micro_batch_size: int = 0        # sequences per forward per process (gradient accumulation); 0 = whole batch
    max_length: int = 4096           # longest training sequence (prompt + target) in tokens


@dataclass
class PPOSpec:
    """A PPO stage (iterations 0 skips it). Paper: 16 samples, clip 0.2, gamma = lambda = 1, no KL, a critic.

    `advantage: grpo` replaces the critic by each prompt's group of samples (mgrd.training.config.PPOConfig;
    docs/training.md, "GRPO and PPO"); `critic_lr` then goes unused.
    """

    iterations: int = 10
    prompts_per_iteration: int = 8
    samples_per_prompt: int = 8
    max_new_tokens: int = 160
    temperature: float = 1.0
    lr: float = 2e-5
    critic_lr: float = 1e-4
    epochs: int = 1
    minibatch_size: int = 32
    clip: float = 0.2
    kl_coef: float = 0.0
    accuracy_weight: float = 0.8
    format_weight: float = 0.2
    audio_share: float = 0.6     # share of audio prompts in multimodal PPO (paper: 3,000 of 5,000)
    micro_batch_size: int = 0    # sequences per training forward per process; 0 = the whole minibatch
    rollout_batch_size: int = 64  # sequences the engine decodes at once
    score_batch_size: int = 0    # sequences per scoring forward (old log-probs, values); 0 = micro_batch_size
    max_length: int = 4096       # prompt + response tokens (>= max_prompt_tokens + max_new_tokens)
    advantage: str = "gae"       # "gae" (PPO with a critic, the paper's) or "grpo" (group-normalised, no critic)
    grpo_scale: str = "std"      # grpo: "std" divides by the group's std + grpo_eps; "none" only centres (Dr. GRPO)
    grpo_eps: float = 1e-6


@dataclass
class ColdStartSpec(SFTSpec):
    """Cold-start SFT on the mix: text CoT, audio with empty think, audio CoT, cognition bait."""

    audio_cot_share: float = 0.1     # of the audio items, those trained with a chain (paper: 10 %)
    cot_style: str = "grounded"      # "grounded" (MGRD) or "surrogate" (the textual-surrogate ablation)
    text_ratio: float = 1.0
    audio_ratio: float = 1.0
    bait_ratio: float = 0.1


@dataclass
class EndpointSpec:
    """An OpenAI-compatible server (the official one, `mgrd serve`, or several replicas) to sample a
    fixed policy from, instead of the native engine (docs/pipeline.md, "Generation backends").

    The server must serve the stage's input model: the stage reads `/v1/models` and refuses a server
    whose model `root` is another directory (`check_model: false` when the server's paths are not
    this machine's). `model` is the served name (default: the one the server lists); the servers'
    key comes from `MGRD_ENDPOINT_API_KEY`, or from the variable `api_key_env` names (none is sent
    otherwise: mgrd.remote.credentials).
    """

    urls: list[str] = field(default_factory=list)
    model: str | None = None
    shape: str = "openai"            # "openai" or "official" (Step-Audio-R1's client)
    concurrency: int = 8             # requests in flight per URL
    api_key_env: str | None = None
    check_model: bool = True


@dataclass
class DistillSpec:
    """Self-distillation: K chains per selected question, kept if they pass the filters."""

    questions: int = 64
    samples: int = 4
    max_new_tokens: int = 160
    temperature: float = 0.8
    min_grounding: float = 0.75
    judge_url: str | None = None     # optional OpenAI-compatible judge for logical coherence / self-cognition
    judge_model: str = ""
    endpoint: EndpointSpec | None = None   # sample from a server instead of the native engine


@dataclass
class CurationSpec:
    """pass@k curation of the RL questions (paper: pass@8 in [3, 6])."""

    questions: int = 64
    k: int = 8
    low: int = 3
    high: int = 6
    strategy: str = "range"
    max_new_tokens: int = 160
    temperature: float = 1.0
    endpoint: EndpointSpec | None = None   # sample from a server instead of the native engine


@dataclass
class EncoderSpec(SFTSpec):
    """Encoder pretraining on the fact heads: stored clips, and clips made on the fly from fresh seeds."""

    streamed_share: float = 0.0      # share of each batch made from new world items (sound, music, composite)
    probe_clips: int = 200           # held-out clips the heads are probed on after training (0: none)
    fact_weight: float = 1.0         # weight of the clip-level fact heads' losses against the frame heads'


@dataclass
class IterationSpec:
    """T iterations of: select -> self-distil -> SFT -> curate -> multimodal PPO."""

    count: int = 2
    distill: DistillSpec = field(default_factory=DistillSpec)
    sft: SFTSpec = field(default_factory=lambda: SFTSpec(steps=40, lr=3e-4))
    text_cot_ratio: float = 1.0      # text CoT per kept chain in the iteration's SFT
    max_chain_repeats: int = 4       # no kept chain is seen more often than this in one SFT stage
    curation: CurationSpec = field(default_factory=CurationSpec)
    rl: PPOSpec = field(default_factory=PPOSpec)


@dataclass
class CognitionSpec:
    """Self-cognition correction: find denials among sampled responses, then DPO on pairs."""

    questions: int = 32
    samples: int = 2
    max_new_tokens: int = 96
    temperature: float = 1.0
    steps: int = 20
    batch_size: int = 8
    lr: float = 1e-4
    beta: float = 0.1
    micro_batch_size: int = 0        # pairs per forward per process; 0 = the whole batch
    max_length: int = 4096           # longest side of a pair (>= max_prompt_tokens + max_new_tokens)
    judge_url: str | None = None
    judge_model: str = ""
    endpoint: EndpointSpec | None = None   # sample from a server instead of the native engine


@dataclass
class EvalSpec:
    """Evaluation on the held-out split after each stage that changes the model."""

    items: int = 60                  # audio items (the first ones of the held-out split)
    probes: int = 16                 # cognition probes for the self-cognition error rate
    budgets: list[int | None] = field(default_factory=lambda: [0, 16, 32, 64, 128, None])
    stage_budgets: list[int | None] = field(default_factory=lambda: [0, None])   # at intermediate stages
    between_iterations: bool = True  # also evaluate after each iteration but the last (else: cold start and final)
    max_tokens: int = 200
    temperature: float = 0.0         # 0 = greedy; > 0 samples with a fixed seed per item
    describe: int = 0                # audio items asked "Describe what you hear." (the ladder's verbalisation rung)
    text_items: int = 0              # text counterparts asked with and without thinking (the text control)
    batch_size: int = 32
    endpoint: EndpointSpec | None = None   # sample from a server instead of the native engine


@dataclass
class Recipe:
    """The whole pipeline. The tiny-scale pretraining stages stand in for released weights (DESIGN.md)."""

    name: str = "recipe"
    seed: int = 0
    threads: int = 0                 # torch threads; 0 = leave torch's default
    max_prompt_tokens: int = 1024    # longest prompt (text + audio tokens) a generating stage is sized for
    activation_checkpointing: bool = False   # every trainer recomputes decoder-layer activations in backward
    data: DataSpec = field(default_factory=DataSpec)
    world: WorldSpec = field(default_factory=WorldSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    text_pretrain: SFTSpec = field(default_factory=SFTSpec)
    encoder_pretrain: EncoderSpec = field(default_factory=lambda: EncoderSpec(lr=1e-3))
    audio_pretrain: SFTSpec = field(default_factory=SFTSpec)
    cold_start: ColdStartSpec = field(default_factory=ColdStartSpec)
    text_rl: PPOSpec = field(default_factory=PPOSpec)
    iterations: IterationSpec = field(default_factory=IterationSpec)
    cognition: CognitionSpec = field(default_factory=CognitionSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)


SHIPPED = ("tiny", "smoke", "step-audio-r1", "tiny-audio-base")


def shipped_recipe(name: str) -> str:
    """The YAML text of a recipe shipped inside the package (`tiny`, `smoke`, `step-audio-r1`)."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped recipe {name!r}; shipped: {', '.join(SHIPPED)}")
    return resources.files("mgrd.pipeline").joinpath("recipes", f"{name}.yaml").read_text(encoding="utf-8")


def load_recipe(source: str | os.PathLike, overrides: list[str] = ()) -> Recipe:
    """A recipe from a YAML file, or a shipped recipe's name, with dotted `key=value` overrides."""
    path = Path(source)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    elif str(source) in SHIPPED:
        text = shipped_recipe(str(source))
    else:
        raise FileNotFoundError(f"recipe {source} does not exist; give a YAML file or one of {', '.join(SHIPPED)}")
    data = config_data(text, str(source), overrides)
    recipe = from_dict(Recipe, data)
    check(recipe)
    from mgrd.pipeline.trainer_configs import stage_configs

    stage_configs(recipe)   # every stage's trainer config is valid before anything runs
    return recipe


def check(recipe: Recipe) -> None:
    """Refuse settings no stage could run with, naming the key."""
    check_data(recipe.data)
    if recipe.cold_start.cot_style not in ("grounded", "surrogate"):
        raise ValueError(f"cold_start.cot_style={recipe.cold_start.cot_style!r}; accepted: grounded, surrogate")
    if not 0.0 <= recipe.cold_start.audio_cot_share <= 1.0:
        raise ValueError("cold_start.audio_cot_share must be in [0, 1]")
    if not 0.0 <= recipe.encoder_pretrain.streamed_share < 1.0:
        raise ValueError("encoder_pretrain.streamed_share must be in [0, 1): stored clips carry the heads' labels")
    if not recipe.encoder_pretrain.fact_weight >= 0:
        raise ValueError("encoder_pretrain.fact_weight must be a number >= 0")
    if recipe.iterations.count < 0:
        raise ValueError("iterations.count must be >= 0")
    if recipe.iterations.max_chain_repeats < 1 or recipe.iterations.text_cot_ratio < 0:
        raise ValueError("iterations.max_chain_repeats must be >= 1 and iterations.text_cot_ratio >= 0")
    if recipe.iterations.curation.strategy not in ("range", "failed", "unfiltered"):
        raise ValueError(f"iterations.curation.strategy={recipe.iterations.curation.strategy!r}; "
                         "accepted: range, failed, unfiltered")
    if recipe.model.base is not None and recipe.model.text_base is not None:
        raise ValueError("model.base and model.text_base contradict each other: base is a whole checkpoint, "
                         "text_base the decoder of a new model; accepted: one of them")
    if recipe.model.base is None and recipe.model.vocab_size < 300:
        raise ValueError("model.vocab_size must be >= 300 (256 bytes + special tokens + merges)")
    if any(b is not None and b < 0 for b in recipe.eval.budgets + recipe.eval.stage_budgets):
        raise ValueError("eval budgets must be >= 0 or null (unlimited)")
    it = recipe.iterations
    for key, spec in (("iterations.distill", it.distill), ("iterations.curation", it.curation),
                      ("cognition", recipe.cognition), ("eval", recipe.eval)):
        if spec.endpoint is not None:
            check_endpoint(spec.endpoint, f"{key}.endpoint")
    check_lengths(recipe)


ENDPOINT_SHAPES = ("openai", "official")


def check_endpoint(spec: EndpointSpec, key: str) -> None:
    """An endpoint section names at least one http(s) URL, a known request shape and a sane concurrency."""
    if not spec.urls:
        raise ValueError(f"{key}.urls is empty; give the server's base URL(s), e.g. [http://127.0.0.1:9999/v1]")
    bad = [u for u in spec.urls if not isinstance(u, str) or not u.startswith(("http://", "https://"))]
    if bad:
        raise ValueError(f"{key}.urls: {bad[0]!r} is not an http(s) URL such as http://127.0.0.1:9999/v1")
    if spec.shape not in ENDPOINT_SHAPES:
        raise ValueError(f"{key}.shape={spec.shape!r}; accepted: {', '.join(ENDPOINT_SHAPES)}")
    if not 1 <= spec.concurrency <= 256:
        raise ValueError(f"{key}.concurrency={spec.concurrency}; accepted: 1 to 256 requests in flight per URL")


def check_lengths(recipe: Recipe) -> None:
    """Every trained sequence fits its stage's max_length: prompt (max_prompt_tokens) + what is generated."""
    if recipe.max_prompt_tokens < 1:
        raise ValueError(f"max_prompt_tokens={recipe.max_prompt_tokens}; accepted: an integer >= 1")
    it = recipe.iterations
    needs = [("text_rl", recipe.text_rl.max_length, "text_rl.max_new_tokens", recipe.text_rl.max_new_tokens),
             ("iterations.rl", it.rl.max_length, "iterations.rl.max_new_tokens", it.rl.max_new_tokens),
             # the iteration SFT trains on kept chains sampled with the distillation's token limit
             ("iterations.sft", it.sft.max_length, "iterations.distill.max_new_tokens", it.distill.max_new_tokens),
             ("cognition", recipe.cognition.max_length, "cognition.max_new_tokens", recipe.cognition.max_new_tokens)]
    for key, max_length, gen_key, gen in needs:
        if max_length < recipe.max_prompt_tokens + gen:
            raise ValueError(f"{key}.max_length={max_length} is less than max_prompt_tokens ({recipe.max_prompt_tokens})"
                             f" + {gen_key} ({gen}) = {recipe.max_prompt_tokens + gen}; raise {key}.max_length "
                             f"or lower {gen_key} or max_prompt_tokens")


DATA_SOURCES = ("world", "files")
DATA_SPLITS = ("train", "rl", "heldout", "dev")


def check_data(data: DataSpec) -> None:
    """`world` takes no files; `files` needs train and heldout (rl and dev are optional)."""
    if data.source not in DATA_SOURCES:
        raise ValueError(f"data.source={data.source!r}; accepted: {', '.join(DATA_SOURCES)}")
    given = [s for s in DATA_SPLITS if getattr(data, s)]
    if data.source == "world" and given:
        raise ValueError(f"data.{given[0]} is set but data.source is world (the world stage generates the data); "
                         "set data.source=files to train on your own record files")
    if data.source == "files":
        missing = [s for s in ("train", "heldout") if not getattr(data, s)]
        if missing:
            raise ValueError(f"data.source=files needs data.{missing[0]} (a JSONL record file); "
                             "data.rl and data.dev are optional")


def recipe_dict(recipe: Recipe) -> dict[str, Any]:
    return to_dict(recipe)


def dump_recipe(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe_dict(recipe), sort_keys=False)
