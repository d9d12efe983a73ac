"""LoRA training with peft: adapters injected into a (possibly meta) model, their seeded init, which parameters
train, the base model with adapters switched off, and the adapter state a checkpoint keeps.

The adapters are peft's `LoraConfig` layers, put into the AudioLM itself with `inject_adapter_in_model`
(the model stays our own nn.Module, not a PeftModel). Only the decoder's layer projections are targeted;
the encoder is frozen always, the adaptor trains with `train_adaptor`.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mgrd.io import write_json_atomic
from mgrd.model.lora import (ADAPTER_CONFIG, ADAPTER_NAME, ADAPTER_WEIGHTS, ADAPTOR_WEIGHTS, PEFT_PREFIX,
                             config_sha256, from_peft_key, lora_delta, to_peft_key)
from mgrd.training.config import LoraConfig

INSTALL_HINT = 'pip install -e ".[lora]"'
_WRAPPER = "_checkpoint_wrapped_module."
_LORA_PART = re.compile(r"\.lora_[AB]\.")
_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


def require_peft():
    """The peft package, or a ModuleNotFoundError whose message names the extra that installs it."""
    try:
        import peft
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"LoRA (a lora section) needs peft: {INSTALL_HINT}", name="peft") from None
    return peft


def target_pattern(targets: list[str], prefix: str = "") -> str:
    """The full-match regex of the decoder projections to adapt, e.g. `model.layers.3.mlp.up_proj`
    (`prefix` "backbone." for the critic): the encoder and adaptor can never match it."""
    attn = [t for t in targets if t in _ATTENTION]
    mlp = [t for t in targets if t not in _ATTENTION]
    parts = ([rf"self_attn\.(?:{'|'.join(attn)})"] if attn else []) + ([rf"mlp\.(?:{'|'.join(mlp)})"] if mlp else [])
    return rf"{re.escape(prefix)}model\.layers\.\d+\.(?:{'|'.join(parts)})"


def peft_config(cfg: LoraConfig, *, prefix: str = "", base: str | os.PathLike | None = None):
    """peft's LoraConfig of `cfg` (what adapter_config.json holds)."""
    peft = require_peft()
    return peft.LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                           target_modules=target_pattern(cfg.target_modules, prefix), bias="none",
                           base_model_name_or_path=str(base) if base is not None else None)


def is_lora_name(name: str) -> bool:
    return _LORA_PART.search(name) is not None


def state_name(name: str) -> str:
    """A parameter name as the state dict spells it (activation checkpointing's wrapper left out)."""
    return name.replace(_WRAPPER, "")


def apply_lora(module: nn.Module, cfg: LoraConfig, *, prefix: str = "", trainable: tuple[str, ...] = ()) -> nn.Module:
    """Inject LoRA layers into `module` in place and make only they train (plus the adaptor with
    cfg.train_adaptor, plus parameters under the `trainable` prefixes, e.g. a critic's value head).

    `prefix` is where the AudioLM sits inside `module` ("" for an AudioLM, "backbone." for a critic).
    On the meta device the adapters are created on meta too (fill them with `init_adapters`).
    """
    peft = require_peft()
    on_meta = any(p.is_meta for p in module.parameters())
    peft.inject_adapter_in_model(peft_config(cfg, prefix=prefix), module, adapter_name=ADAPTER_NAME,
                                 low_cpu_mem_usage=on_meta)
    keep = tuple(trainable) + ((f"{prefix}adapter.",) if cfg.train_adaptor else ())
    injected = 0
    for name, p in module.named_parameters():
        name = state_name(name)
        lora = is_lora_name(name)
        injected += lora
        p.requires_grad_(lora or name.startswith(keep))
    if not injected:
        raise ValueError(f"no decoder projection matched lora.target_modules={cfg.target_modules}")
    return module


@torch.no_grad()
def init_adapters(module: nn.Module, seed: int) -> None:
    """peft's default init (A Kaiming-uniform, a=sqrt(5); B zero), drawn per parameter from a generator
    seeded by (seed, name): one process and any FSDP sharding get the same adapters."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    for name, target in module.state_dict().items():
        if not is_lora_name(name):
            continue
        full = torch.zeros(target.shape, dtype=torch.float32)
        if ".lora_A." in name:
            digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
            gen = torch.Generator().manual_seed(int.from_bytes(digest[:7], "little"))
            nn.init.kaiming_uniform_(full, a=math.sqrt(5), generator=gen)
        full = full.to(target.dtype)
        if isinstance(target, DTensor):
            part = distribute_tensor(full.to(target.device), target.device_mesh, target.placements, src_data_rank=None)
            target.to_local().copy_(part.to_local())
        else:
            target.copy_(full)


@contextmanager
def adapters_disabled(module: nn.Module) -> Iterator[None]:
    """Within the block `module` computes as its base model: every LoRA layer is switched off (without
    touching requires_grad, which FSDP2 has already grouped)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in module.modules() if isinstance(m, BaseTunerLayer)]
    before = [m._disable_adapters for m in layers]
    for m in layers:
        m._disable_adapters = True
    try:
        yield
    finally:
        for m, flag in zip(layers, before):
            m._disable_adapters = flag


class BaseModelView:
    """A trained model seen with its adapters off: the starting model (a DPO or PPO reference) at no
    memory cost, valid while the adaptor is frozen (only the adapters move)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __call__(self, *args: Any, **kwargs: Any):
        with adapters_disabled(self.model):
            return self.model(*args, **kwargs)


def trainable_names(module: nn.Module) -> list[str]:
    """State-dict names of the parameters that train (what a LoRA checkpoint keeps)."""
    return [state_name(n) for n, p in module.named_parameters() if p.requires_grad]


def trainable_state(module: nn.Module, full: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The trainable part of a full state dict of `module` (under FSDP only the main process holds the
    full state; the others' is empty, and so is their part)."""
    return {n: full[n] for n in trainable_names(module) if n in full}


def write_adapter_dir(path: str | os.PathLike, state: Mapping[str, torch.Tensor], cfg: LoraConfig, *,
                      base: str | os.PathLike, tokenizer: Any) -> Path:
    """An adapter directory in peft's format from a trained AudioLM's trainable state (every file atomic).

    The LoRA tensors go to adapter_model.safetensors under peft's keys, the adaptor's (when trained)
    to adaptor.safetensors under their checkpoint names; adapter_config.json names the base directory
    and the sha256 of its config (mgrd_base_sha256); the tokenizer is saved beside them.
    """
    from mgrd.model.checkpoint import write_safetensors

    path, base = Path(path), Path(base).resolve()
    path.mkdir(parents=True, exist_ok=True)
    lora = {to_peft_key(k): v for k, v in state.items() if is_lora_name(k)}
    adaptor = {k: v for k, v in state.items() if k.startswith("adapter.")}
    other = sorted(set(state) - {from_peft_key(k) for k in lora} - set(adaptor))
    if other:
        raise ValueError(f"an adapter directory holds LoRA and adaptor weights only, not {other[:5]}")
    write_safetensors(path / ADAPTER_WEIGHTS, lora)
    if adaptor:
        write_safetensors(path / ADAPTOR_WEIGHTS, adaptor)
    else:
        (path / ADAPTOR_WEIGHTS).unlink(missing_ok=True)
    config = peft_config(cfg, base=base).to_dict()
    config = {k: sorted(v) if isinstance(v, set) else v for k, v in config.items()}
    config["mgrd_base_sha256"] = config_sha256(base)
    write_json_atomic(path / ADAPTER_CONFIG, config)
    tokenizer.save(path)
    return path


def read_adapter_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A checkpoint's `model/` tensors of a LoRA run (peft keys + adaptor keys) -> model state-dict names."""
    return {from_peft_key(k) if k.startswith(PEFT_PREFIX) else k: v for k, v in state.items()}


class MergedState(Mapping):
    """The plain AudioLM state of a LoRA model: every targeted weight as W + s·(B @ A), the rest as is.

    Read one key at a time (each tensor gathered whole only then under FSDP, a collective: every
    process reads the same keys in order), it refreshes a rollout replica without a second full copy.
    """

    def __init__(self, model: nn.Module) -> None:
        from peft.tuners.lora import LoraLayer

        self._state = model.state_dict()
        self._scaling = {state_name(n): m.scaling[ADAPTER_NAME] for n, m in model.named_modules()
                         if isinstance(m, LoraLayer)}
        self._keys = [k for k in self._state if not is_lora_name(k)]
        self._plain = {k: k.replace(".base_layer.", ".") for k in self._keys}
        self._source = {v: k for k, v in self._plain.items()}

    def _full(self, key: str) -> torch.Tensor:
        t = self._state[key]
        return t.full_tensor() if hasattr(t, "full_tensor") else t

    def __getitem__(self, key: str) -> torch.Tensor:
        source = self._source[key]
        module, _, leaf = source.rpartition(".base_layer.")
        weight = self._full(source)
        if not module or leaf != "weight":
            return weight
        a = self._full(f"{module}.lora_A.{ADAPTER_NAME}.weight")
        b = self._full(f"{module}.lora_B.{ADAPTER_NAME}.weight")
        return (weight.float() + lora_delta(a, b, self._scaling[module])).to(weight.dtype)

    def __iter__(self):
        return iter(self._plain[k] for k in self._keys)

    def __len__(self) -> int:
        return len(self._keys)
