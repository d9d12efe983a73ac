"""Scale-out under torchrun: process group (NCCL on GPU, gloo on CPU), FSDP2 sharding, full state dicts.

One process (no torchrun) needs no process group: every helper here degrades to the local case,
so a trainer reads the same on one CPU core and on many GPUs.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_model_state_dict,
                                                     set_optimizer_state_dict)

from mgrd.runtime import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """This process's place: rank, number of processes, and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL with CUDA, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(minutes=30))
    return DistInfo(rank, world, local, dev)


def decoder_layers(model: nn.Module) -> nn.ModuleList | None:
    """The Qwen2 decoder layers of an AudioLM (`model.layers`) or of a critic (`backbone.model.layers`)."""
    inner = getattr(model, "model", None) or getattr(getattr(model, "backbone", None), "model", None)
    return getattr(inner, "layers", None)


def checkpoint_layers(model: nn.Module) -> None:
    """Activation checkpointing: each decoder layer recomputes its activations in the backward pass
    (only its input is kept). Idempotent; parameter names and state-dict keys are unchanged."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper, checkpoint_wrapper

    layers = decoder_layers(model)
    for i, layer in enumerate(layers or ()):
        if not isinstance(layer, CheckpointWrapper):
            layers[i] = checkpoint_wrapper(layer)


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def shard(model: nn.Module, info: DistInfo, *, mixed_precision: bool = False) -> nn.Module:
    """FSDP2 (`fully_shard`) each Qwen2 decoder layer, then the whole model; a no-op on one process
    or on a model already sharded (see mgrd.training.loading, which shards on the meta device).

    The frozen encoder stays in the root group: FSDP2 shards frozen and trainable parameters alike.
    mixed_precision: bf16 parameters in forward and backward, float32 gradient reduction (the
    float32 master weights and optimizer states stay sharded).
    """
    if not info.distributed or is_sharded(model):
        return model
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    kwargs = {"mp_policy": MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)} \
        if mixed_precision else {}
    for layer in decoder_layers(model) or ():
        fully_shard(layer, **kwargs)
    fully_shard(model, **kwargs)
    return model


class GatheredState(Mapping):
    """A (possibly sharded) model's state, each tensor gathered whole only when read (collective under
    FSDP: every process must read the same keys in the same order, as iterating does). A rollout
    replica is refreshed through it one parameter at a time, never holding a second full copy."""

    def __init__(self, model: nn.Module) -> None:
        self._state = model.state_dict()

    def __getitem__(self, key: str) -> torch.Tensor:
        t = self._state[key]
        return t.full_tensor() if hasattr(t, "full_tensor") else t

    def __iter__(self):
        return iter(self._state)

    def __len__(self) -> int:
        return len(self._state)


_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's state dict on CPU (every process must call it under FSDP)."""
    return get_model_state_dict(model, options=_FULL)


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer state keyed by parameter names, unsharded, on CPU (collective under FSDP)."""
    return get_optimizer_state_dict(model, optimizer, options=_FULL)


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], *, strict: bool = True) -> None:
    """Load a full state dict into a (possibly sharded) model. strict=False: `state` holds a part of the
    model's tensors (a LoRA checkpoint's trainable ones), each of which must be the model's."""
    if not strict:
        own = set(model.state_dict())
        foreign = sorted(k for k in state if k not in own)
        if foreign:
            raise ValueError(f"{len(foreign)} saved tensors are not the model's, e.g. {foreign[:5]}")
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=strict))


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a full optimizer state. Parameters that never had a gradient (e.g. the adaptor in a
    text-only run) have no state to load, exactly as in the uninterrupted run, hence strict=False."""
    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True, strict=False))


def all_reduce(value: float | torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Sum (or max) of a number or tensor over processes; the value itself on one process."""
    t = torch.as_tensor(value, dtype=torch.float64).clone()
    if dist.is_available() and dist.is_initialized():
        backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        t = t.to(backend_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        t = t.cpu()
    return t


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
