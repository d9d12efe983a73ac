"""Models for training: loaded whole on one process; under FSDP built on the meta device, sharded, then
filled from the checkpoint one parameter at a time, so no process ever holds a full float32 copy.

The critic is built the same way from the checkpoint's decoder, without its lm_head.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from mgrd.chat import Tokenizer
from mgrd.model import (AudioTokenIds, empty_model, is_adapter_dir, load_pretrained, read_config, restore_buffers,
                        weight_files)
from mgrd.training.config import LoraConfig
from mgrd.training.critic import Critic
from mgrd.training.distributed import DistInfo, checkpoint_layers, shard
from mgrd.training.lora import apply_lora, init_adapters, is_lora_name


def load_for_training(path: str | os.PathLike, info: DistInfo, *, critic: bool = False, checkpointing: bool = False,
                      mixed_precision: bool = False, dtype: torch.dtype = torch.float32,
                      sharded: bool = True, lora: LoraConfig | None = None,
                      seed: int = 0) -> tuple[nn.Module, Tokenizer]:
    """The AudioLM (or, `critic=True`, a Critic on its decoder) of a checkpoint, ready to train.

    One process: loaded whole on this process's device. Under FSDP: sharded (mgrd.training.
    distributed.shard) while still on the meta device, then each parameter is read from the
    safetensors files, cast to `dtype`, and only this process's shard kept. `checkpointing`
    wraps every decoder layer in activation checkpointing. `sharded=False` loads whole under FSDP
    too (a trainer that wraps the model in a module of its own before sharding).
    `lora`: peft LoRA adapters are injected before checkpointing and sharding, initialised from
    `seed` (the same adapters on any number of processes), and only they (with the adaptor when
    lora.train_adaptor, and a critic's value head) require grad. A LoRA adapter directory as `path`
    is loaded as its base with the adapter merged (one process; under FSDP merge it first).
    """
    tokenizer = Tokenizer.from_dir(path)
    prefix = "backbone." if critic else ""
    if not info.distributed or not sharded:
        model = load_pretrained(path, dtype=dtype, device=info.device, tokenizer_special_ids=tokenizer.special)
        module = Critic(model) if critic else model
        if lora is not None:
            apply_lora(module, lora, prefix=prefix, trainable=("value_head.",) if critic else ())
            init_adapters(module, seed)
        if checkpointing:
            checkpoint_layers(module)
        return module, tokenizer
    if is_adapter_dir(path):
        raise ValueError(f"{path} is a LoRA adapter directory; sharded loading reads full checkpoints only: write "
                         "one with `mgrd merge-adapter` and train from it")
    sp = tokenizer.special
    cfg = read_config(path, audio_token_ids=AudioTokenIds.of(sp))
    model = empty_model(cfg, dtype=dtype, device="meta")
    module = Critic(model) if critic else model
    if lora is not None:
        apply_lora(module, lora, prefix=prefix, trainable=("value_head.",) if critic else ())
    if checkpointing:
        checkpoint_layers(module)
    shard(module, info, mixed_precision=mixed_precision)
    module.to_empty(device=info.device)
    _fill_shards(module, Path(path), dtype, prefix=prefix)
    if lora is not None:
        init_adapters(module, seed)
    restore_buffers(model, info.device)
    if critic:
        module.reset_value_head()
    return module, tokenizer


@torch.no_grad()
def _fill_shards(module: nn.Module, path: Path, dtype: torch.dtype, *, prefix: str) -> None:
    """Copy every checkpoint tensor into this process's shard of it (parameters in state-dict order)."""
    from safetensors import safe_open
    from torch.distributed.tensor import DTensor, distribute_tensor

    files = weight_files(path)
    handles = {}
    try:
        for key, target in module.state_dict().items():
            if not key.startswith(prefix) or (prefix and key.startswith("value_head")) or is_lora_name(key):
                continue
            name = key[len(prefix):].replace(".base_layer.", ".")   # a LoRA-wrapped Linear's own weight
            if name not in files:
                raise ValueError(f"checkpoint {path} has no tensor {name!r} for the model built from its config.json")
            file = files[name]
            if file not in handles:
                handles[file] = safe_open(file, framework="pt")
            full = handles[file].get_tensor(name).to(dtype)
            if tuple(full.shape) != tuple(target.shape):
                raise ValueError(f"checkpoint {path}: {name} is {tuple(full.shape)}, the model expects "
                                 f"{tuple(target.shape)}")
            if isinstance(target, DTensor):
                part = distribute_tensor(full.to(target.device), target.device_mesh, target.placements,
                                         src_data_rank=None)   # every process read it: no communication
                target.to_local().copy_(part.to_local())
            else:
                target.copy_(full)
            del full
    finally:
        handles.clear()
