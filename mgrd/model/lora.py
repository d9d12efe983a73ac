"""LoRA adapter directories in peft's format: their names, their config, and merging them into a base AudioLM.

An adapter directory holds `adapter_config.json` (peft's LoraConfig, `base_model_name_or_path` = the
base checkpoint directory), `adapter_model.safetensors` (peft's keys: `base_model.model.<module>.lora_A.weight`
[r, in] and `.lora_B.weight` [out, r]), optionally `adaptor.safetensors` (the audio adaptor's `adapter.*`
weights, when they were trained) and the tokenizer files. Merging needs no peft: each targeted Linear
gets W + s·(B @ A), s = lora_alpha / r (lora_alpha / sqrt(r) with rsLoRA), the formula peft merges with.
Only JSON and safetensors are read; nothing in the directory is executed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTOR_WEIGHTS = "adaptor.safetensors"
PEFT_PREFIX = "base_model.model."     # peft's key prefix in adapter_model.safetensors
ADAPTER_NAME = "default"              # peft's adapter name inside a model (not in the saved keys)
_UNSUPPORTED = {"use_dora": False, "fan_in_fan_out": False, "bias": "none"}


def is_adapter_dir(path: str | os.PathLike) -> bool:
    """True when `path` is a directory holding adapter_config.json (and so no full checkpoint of its own)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def config_sha256(model_dir: str | os.PathLike) -> str:
    """sha256 of a checkpoint's config.json (or of an adapter directory's adapter_config.json and weights):
    what an adapter records of its base, so that merging into a different model is refused."""
    root = Path(model_dir)
    h = hashlib.sha256()
    names = (ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADAPTOR_WEIGHTS) if is_adapter_dir(root) else ("config.json",)
    for name in names:
        if (root / name).is_file():
            h.update(name.encode())
            h.update((root / name).read_bytes())
    return h.hexdigest()


def to_peft_key(name: str) -> str:
    """`model.layers.0.self_attn.q_proj.lora_A.default.weight` -> peft's saved key
    `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`."""
    for part in ("lora_A", "lora_B"):
        name = name.replace(f".{part}.{ADAPTER_NAME}.", f".{part}.")
    return PEFT_PREFIX + name


def from_peft_key(key: str) -> str:
    """The inverse of `to_peft_key`: a saved peft key -> the parameter name inside an injected model."""
    if not key.startswith(PEFT_PREFIX):
        raise ValueError(f"{key!r} is not a peft adapter key (they start with {PEFT_PREFIX!r})")
    name = key[len(PEFT_PREFIX):]
    for part in ("lora_A", "lora_B"):
        name = name.replace(f".{part}.", f".{part}.{ADAPTER_NAME}.")
    return name


def lora_delta(a: torch.Tensor, b: torch.Tensor, scaling: float) -> torch.Tensor:
    """The weight update of one adapter: A [r, in], B [out, r] -> scaling · B @ A [out, in], in float32."""
    return (b.float() @ a.float()) * scaling


@dataclass(frozen=True)
class AdapterSpec:
    """What adapter_config.json says that a merge needs."""

    path: Path
    base: Path
    rank: int
    alpha: float
    rslora: bool
    base_sha256: str | None

    @property
    def scaling(self) -> float:
        return self.alpha / (math.sqrt(self.rank) if self.rslora else self.rank)


def read_adapter(path: str | os.PathLike, base: str | os.PathLike | None = None) -> AdapterSpec:
    """Read and check an adapter directory's config; `base` overrides base_model_name_or_path."""
    path = Path(path)
    file = path / ADAPTER_CONFIG
    try:
        cfg = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is not an adapter directory: {ADAPTER_CONFIG} is missing") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{file} is not valid JSON ({e.msg})") from None
    if not isinstance(cfg, dict) or cfg.get("peft_type") != "LORA":
        raise ValueError(f"{file}: only peft LoRA adapters are accepted (peft_type 'LORA'), "
                         f"got {cfg.get('peft_type') if isinstance(cfg, dict) else cfg!r}")
    for key, plain in _UNSUPPORTED.items():
        if cfg.get(key, plain) not in (plain, None):
            raise ValueError(f"{file}: {key}={cfg[key]!r} is not supported; accepted: {plain!r}")
    for key in ("rank_pattern", "alpha_pattern", "modules_to_save", "layers_to_transform"):
        if cfg.get(key):
            raise ValueError(f"{file}: {key} is not supported (one rank and alpha for every targeted module); "
                             f"got {cfg[key]!r}")
    rank, alpha = cfg.get("r"), cfg.get("lora_alpha")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1 or not isinstance(alpha, (int, float)):
        raise ValueError(f"{file}: r={rank!r} and lora_alpha={alpha!r}; accepted: an integer r >= 1 and a number")
    base_name = base if base is not None else cfg.get("base_model_name_or_path")
    if not base_name:
        raise ValueError(f"{file} names no base model (base_model_name_or_path); give the base directory")
    base_dir = Path(base_name)
    if not base_dir.is_absolute():
        base_dir = (path / base_dir) if (path / base_dir).is_dir() else base_dir
    if not base_dir.is_dir():
        raise FileNotFoundError(f"adapter {path} refers to the base model {base_name}, which is not a directory "
                                "here; give the base checkpoint directory explicitly")
    return AdapterSpec(path, base_dir, rank, float(alpha), bool(cfg.get("use_rslora", False)),
                       cfg.get("mgrd_base_sha256"))


@torch.no_grad()
def merge_adapter(model: nn.Module, spec: AdapterSpec, pairs: dict[str, tuple[torch.Tensor, torch.Tensor]],
                  adaptor: dict[str, torch.Tensor]) -> nn.Module:
    """Add the adapter's updates (module name -> (A [r, in], B [out, r])) to `model`'s weights in place,
    and load its adaptor weights, if any (mgrd.model.checkpoint.read_adapter_tensors reads both)."""
    for module_name, (a, b) in pairs.items():
        try:
            linear = model.get_submodule(module_name)
        except AttributeError:
            raise ValueError(f"adapter {spec.path} targets {module_name}, which the base model has not") from None
        if not isinstance(linear, nn.Linear) or tuple(linear.weight.shape) != (b.shape[0], a.shape[1]):
            raise ValueError(f"adapter {spec.path}: {module_name} is not a Linear of shape "
                             f"[{b.shape[0]}, {a.shape[1]}] in the base model")
        w = linear.weight
        w.copy_((w.float() + lora_delta(a.to(w.device), b.to(w.device), spec.scaling)).to(w.dtype))
    if adaptor:
        own = model.state_dict()
        missing = sorted(k for k in own if k.startswith("adapter.") and k not in adaptor)
        if missing or any(k not in own for k in adaptor):
            raise ValueError(f"{spec.path / ADAPTOR_WEIGHTS} does not hold exactly the base model's adaptor "
                             f"weights (missing {missing[:5]})")
        for k, t in adaptor.items():
            own[k].copy_(t.to(own[k].dtype))
    return model
