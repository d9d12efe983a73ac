"""Typed trainer configs: frozen dataclasses read from YAML with `key=value` overrides, saved beside every run.

Every config checks its own values when it is built (`__post_init__`): a bad value fails at load,
naming the key and what is accepted, not in the middle of a run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass(frozen=True)
class SourceConfig:
    """One JSONL data source and its share of the mixture (ratios are normalised over sources)."""

    path: str
    ratio: float = 1.0
    loss_on: str = "assistant"   # "assistant" (paper eq. 1) or "all" (language-model pretraining)

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            _bad("path", self.path, "a JSONL file path")
        _number(self, "ratio", "a number >= 0", lambda v: v >= 0)
        _choice(self, "loss_on", ("assistant", "all"))


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warmup then cosine decay to min_lr_ratio·lr; gradient-norm clipping."""

    lr: float = 1e-5
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        _number(self, "lr", "a number > 0", lambda v: v > 0)
        _number(self, "weight_decay", "a number >= 0", lambda v: v >= 0)
        if not all(_finite(b) and 0.0 <= b < 1.0 for b in self.betas):
            _bad("betas", self.betas, "two numbers in [0, 1)")
        _number(self, "eps", "a number > 0", lambda v: v > 0)
        _integer(self, "warmup_steps", 0)
        _number(self, "min_lr_ratio", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        _number(self, "grad_clip", "a number >= 0 (0 = measure only)", lambda v: v >= 0)


# The decoder's projections a LoRA adapter may target (Qwen2 attention and MLP).
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraConfig:
    """LoRA adapters (peft) on the decoder's projections; the section's presence enables them.

    Only the adapters train (and the audio adaptor with train_adaptor); the decoder's base weights
    and the encoder stay frozen. Each targeted Linear computes W x + (alpha / rank) · B A x, with
    A [rank, in] and B [out, rank] (B starts at zero, so training starts from the base model).
    """

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    train_adaptor: bool = False

    def __post_init__(self) -> None:
        _integer(self, "rank", 1, "lora.")
        _number(self, "alpha", "a number > 0", lambda v: v > 0, "lora.")
        _number(self, "dropout", "a number in [0, 1)", lambda v: 0 <= v < 1, "lora.")
        targets = self.target_modules
        if not isinstance(targets, (list, tuple)) or not targets:
            _bad("lora.target_modules", targets, "a non-empty list of " + ", ".join(LORA_TARGETS))
        unknown = [t for t in targets if t not in LORA_TARGETS]
        if unknown:
            _bad("lora.target_modules", unknown, "names among " + ", ".join(LORA_TARGETS))
        if len(set(targets)) != len(targets):
            _bad("lora.target_modules", targets, "each name once")
        if not isinstance(self.train_adaptor, bool):
            _bad("lora.train_adaptor", self.train_adaptor, "true or false")


@dataclass(frozen=True)
class RunConfig:
    """Where a run writes, how often it saves and logs, and how it resumes."""

    dir: str = "runs/default"
    seed: int = 0
    device: str = "auto"
    autocast: str = "auto"        # "auto" = bf16 on GPU, none on CPU; or "bf16" / "none"
    save_every: int = 50
    keep_last: int = 2
    log_every: int = 1
    resume: str = "auto"          # "auto" = from the newest committed checkpoint; "never"
    allow_changed: bool = False   # resume even though the config or the data changed
    progress: bool = True
    tensorboard: bool = False
    deterministic: bool = False   # torch.use_deterministic_algorithms (CPU runs are exact anyway)
    activation_checkpointing: bool = False   # recompute each decoder layer's activations in backward
    mixed_precision: str = "auto"  # FSDP2 params in bf16, float32 reduction: "auto" = under FSDP on GPU; "bf16"; "none"

    def __post_init__(self) -> None:
        _choice(self, "mixed_precision", ("auto", "bf16", "none"), "run.")
        if not isinstance(self.dir, str) or not self.dir:
            _bad("run.dir", self.dir, "a directory path")
        _choice(self, "autocast", ("auto", "bf16", "none"), "run.")
        _choice(self, "resume", ("auto", "never"), "run.")
        for name in ("save_every", "keep_last", "log_every"):
            _integer(self, name, 1, "run.")


@dataclass(frozen=True)
class SFTConfig:
    """Supervised fine-tuning (and decoder pretraining with loss_on: all)."""

    model: str
    data: list[SourceConfig]
    max_steps: int = 100
    batch_size: int = 8           # sequences per optimizer step, over all processes
    micro_batch_size: int = 0     # sequences per forward per process; 0 = the whole local batch
    max_length: int = 4096        # longer examples are refused at load
    logprob_chunk: int = 1024     # target tokens whose logits [chunk, V] exist at once in the loss
    train_adaptor_only: bool = False
    length_grouping: bool = True
    lora: LoraConfig | None = None   # LoRA adapters instead of full fine-tuning
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        _sources(self, "data")
        if self.lora is not None and self.train_adaptor_only:
            raise ValueError("train_adaptor_only=true and a lora section contradict each other; accepted: one of "
                             "them (lora.train_adaptor=true trains the adaptor together with the adapters)")
        _integer(self, "max_steps", 0)
        _integer(self, "batch_size", 1)
        _integer(self, "micro_batch_size", 0)
        _integer(self, "max_length", 2)
        _integer(self, "logprob_chunk", 1)


@dataclass(frozen=True)
class PPOConfig:
    """The clipped policy-gradient trainer on verifiable rewards (paper eqs. 2-3 and 6-8).

    `advantage` picks the estimator once, at setup: "gae" is PPO with a critic (the paper's;
    `critic_optim`, `value_clip`, `gamma`, `lam` and `whiten_advantages` apply to it alone);
    "grpo" normalises each prompt's outcome rewards over its `samples_per_prompt` rollouts and
    builds no critic (`grpo_scale`, `grpo_eps` apply to it alone).
    """

    model: str
    prompts: list[SourceConfig]
    iterations: int = 100
    prompts_per_iteration: int = 8
    samples_per_prompt: int = 16
    max_new_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 1.0
    thinking_budget: int | None = None
    reward: str = "modality"      # modality (eq. 8), audio (eq. 7) or text (eq. 6)
    grader: str = "reference"     # "reference" or "package.module:function" (answer, record) -> float | None
    accuracy_weight: float = 0.8
    format_weight: float = 0.2
    epochs: int = 2
    minibatch_size: int = 32      # sequences per optimizer step
    micro_batch_size: int = 0     # sequences per forward; 0 = the whole minibatch
    clip: float = 0.2
    value_clip: float = 0.2
    gamma: float = 1.0
    lam: float = 1.0
    kl_coef: float = 0.0          # paper: no KL penalty; the KL to the start model is always logged
    entropy_coef: float = 0.0
    whiten_advantages: bool = False
    advantage: str = "gae"        # "gae" (PPO with a critic) or "grpo" (group-normalised outcome rewards, no critic)
    grpo_scale: str = "std"       # grpo: "std" = (r - mean) / (std + grpo_eps) per group; "none" = r - mean (Dr. GRPO)
    grpo_eps: float = 1e-6        # grpo, "std": added to the group's std (sample std, n - 1 in the denominator)
    rollout_batch_size: int = 64  # sequences the engine decodes at once
    score_batch_size: int = 0     # sequences per no-grad scoring forward (old log-probs, values); 0 = micro_batch_size
    max_length: int = 4096        # prompt + response tokens; prompts longer than max_length - max_new_tokens are refused
    logprob_chunk: int = 1024     # response tokens whose logits [chunk, V] exist at once in the losses
    rollout_dtype: str = "auto"   # the rollout replica (FSDP or LoRA): "auto" = bfloat16 on GPU, float32 on CPU
    lora: LoraConfig | None = None   # LoRA adapters on the actor and on the critic instead of full fine-tuning
    optim: OptimConfig = field(default_factory=OptimConfig)
    critic_optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-5))
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        _sources(self, "prompts")
        _integer(self, "iterations", 0)
        _integer(self, "prompts_per_iteration", 1)
        _integer(self, "samples_per_prompt", 1, limit=128)
        _integer(self, "max_new_tokens", 1)
        _number(self, "temperature", "a number in (0, 100] (PPO samples; greedy rollouts give no ratio)",
                lambda v: 0 < v <= 100)
        _number(self, "top_p", "a number in (0, 1]", lambda v: 0 < v <= 1)
        if self.thinking_budget is not None:
            _integer(self, "thinking_budget", 0)
        _choice(self, "reward", ("modality", "audio", "text"))
        if self.grader != "reference" and not re.fullmatch(r"[\w.]+:\w+", self.grader or ""):
            _bad("grader", self.grader, "'reference' or 'package.module:function'")
        for name in ("accuracy_weight", "format_weight", "kl_coef", "entropy_coef"):
            _number(self, name, "a number >= 0", lambda v: v >= 0)
        _integer(self, "epochs", 1)
        _integer(self, "minibatch_size", 1)
        for name in ("micro_batch_size", "score_batch_size"):
            _integer(self, name, 0)
        _integer(self, "rollout_batch_size", 1)
        _integer(self, "logprob_chunk", 1)
        _choice(self, "rollout_dtype", ("auto", "bfloat16", "float32"))
        _number(self, "clip", "a number in (0, 1)", lambda v: 0 < v < 1)
        _number(self, "value_clip", "a number > 0", lambda v: v > 0)
        _number(self, "gamma", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        _number(self, "lam", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        _integer(self, "max_length", 2)
        _integer(self, "logprob_chunk", 1)
        _choice(self, "advantage", ("gae", "grpo"))
        _choice(self, "grpo_scale", ("std", "none"))
        _number(self, "grpo_eps", "a number > 0", lambda v: v > 0)
        if self.advantage == "grpo":
            if self.samples_per_prompt < 2:
                raise ValueError(f"advantage='grpo' compares the samples of one prompt with each other: "
                                 f"samples_per_prompt={self.samples_per_prompt} is not accepted; accepted: >= 2 "
                                 "(or advantage='gae', which learns a critic)")
            if self.whiten_advantages:
                raise ValueError("whiten_advantages=true is not accepted with advantage='grpo', which already "
                                 "normalises each prompt's group (grpo_scale); accepted: false")
        if self.max_length <= self.max_new_tokens:
            raise ValueError(f"max_length={self.max_length} leaves no room for a prompt before max_new_tokens="
                             f"{self.max_new_tokens}; accepted: max_length > max_new_tokens")


@dataclass(frozen=True)
class DPOConfig:
    """DPO on preference pairs against the frozen starting model."""

    model: str
    pairs: list[SourceConfig]
    max_steps: int = 100
    batch_size: int = 8           # pairs per optimizer step
    micro_batch_size: int = 0
    beta: float = 0.1
    max_length: int = 4096
    logprob_chunk: int = 1024     # completion tokens whose logits [chunk, V] exist at once
    lora: LoraConfig | None = None   # LoRA adapters instead of full fine-tuning
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        _sources(self, "pairs")
        _integer(self, "max_steps", 0)
        _integer(self, "batch_size", 1)
        _integer(self, "micro_batch_size", 0)
        _number(self, "beta", "a number > 0", lambda v: v > 0)
        _integer(self, "max_length", 2)
        _integer(self, "logprob_chunk", 1)


@dataclass(frozen=True)
class EncoderPretrainConfig:
    """Audio encoder + adaptor pretraining with auxiliary fact heads (the tiny recipe's stand-in)."""

    model: str
    data: list[SourceConfig]
    max_steps: int = 400
    batch_size: int = 16
    head_hidden: int = 128
    fact_weight: float = 1.0   # the fact heads' summed losses count this much against the frame heads' (1 each)
    eval_data: list[SourceConfig] = field(default_factory=list)   # held-out clips the heads are probed on
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3))
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        _sources(self, "data")
        _integer(self, "max_steps", 0)
        _integer(self, "batch_size", 1)
        _integer(self, "head_hidden", 1)
        _number(self, "fact_weight", "a number >= 0", lambda v: v >= 0)


# Keys that change how a run is observed or stored but not what it computes: resuming with
# them changed is always allowed.
FREE_KEYS = frozenset({"run.dir", "run.save_every", "run.keep_last", "run.log_every", "run.resume",
                       "run.allow_changed", "run.progress", "run.tensorboard", "run.device",
                       "max_steps", "iterations"})


def load_config(cls: type[T], path: str | os.PathLike | None, overrides: list[str] = ()) -> T:
    """Read `cls` from a YAML file (None: from the overrides alone) and apply `key=value` overrides.

    Nested keys are dotted (`optim.lr=3e-4`); values are parsed as YAML (`data=[{path: a.jsonl}]`).
    Relative data and model paths stay relative to the current directory.
    """
    text = Path(path).read_text(encoding="utf-8") if path is not None else ""
    return from_dict(cls, config_data(text, str(path), overrides))


def config_data(text: str, where: str, overrides: list[str] = ()) -> dict[str, Any]:
    """The plain data of a YAML config text with dotted `key=value` overrides applied."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a config must be a mapping of keys to values")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not key=value (e.g. optim.lr=3e-4)")
        _set_dotted(data, key.strip(), yaml.safe_load(raw) if raw.strip() else "")
    return data


def from_dict(cls: type[T], data: Any, where: str = "") -> T:
    """Build dataclass `cls` from plain data, checking names and types; errors name the key."""
    if dataclasses.is_dataclass(data) and isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where or 'config'}: unknown key(s) {unknown} for {cls.__name__}; "
                         f"accepted: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{where or 'config'}: missing required key(s) {missing} for {cls.__name__}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict:
    """Plain-data form of a config (tuples as lists), as written to config.yaml."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def dump_config(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def config_fingerprint(cfg: Any) -> dict[str, Any]:
    """Flat `dotted.key -> value` of everything that determines the computation (FREE_KEYS left out)."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif prefix not in FREE_KEYS:
            flat[prefix] = value

    walk("", to_dict(cfg))
    return flat


def config_digest(cfg: Any) -> str:
    return hashlib.sha256(json.dumps(config_fingerprint(cfg), sort_keys=True).encode()).hexdigest()[:16]


def _set_dotted(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {key!r}: {p!r} is not a section")
    node[parts[-1]] = value


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)   # YAML reads "3e-4" (no dot) as a string
        except ValueError:
            pass
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and
                                               not (hint is int and isinstance(value, bool))):
        raise ValueError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


# ---- value checks of __post_init__ -----------------------------------------------------------------
def _bad(key: str, value: Any, accepted: str) -> None:
    raise ValueError(f"{key}={value!r} is not accepted; accepted: {accepted}")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _number(cfg: Any, name: str, accepted: str, ok, prefix: str = "") -> None:
    v = getattr(cfg, name)
    if not _finite(v) or not ok(v):
        _bad(prefix + name, v, accepted)


def _integer(cfg: Any, name: str, low: int, prefix: str = "", *, limit: int | None = None) -> None:
    v = getattr(cfg, name)
    if not isinstance(v, int) or isinstance(v, bool) or v < low or (limit is not None and v > limit):
        _bad(prefix + name, v, f"an integer >= {low}" + (f" and <= {limit}" if limit is not None else ""))


def _choice(cfg: Any, name: str, accepted: tuple[str, ...], prefix: str = "") -> None:
    if getattr(cfg, name) not in accepted:
        _bad(prefix + name, getattr(cfg, name), ", ".join(accepted))


def _sources(cfg: Any, name: str) -> None:
    sources = getattr(cfg, name)
    if not isinstance(sources, (list, tuple)) or not sources:
        _bad(name, sources, "a non-empty list of sources ({path: FILE.jsonl, ratio: 1.0})")
    if not any(s.ratio > 0 for s in sources):
        _bad(name, [s.ratio for s in sources], "at least one source with ratio > 0")
