"""Building an AudioLM from its config: weight-free (meta) for loading, or randomly initialised."""

from __future__ import annotations

import math

import torch
from torch import nn

from mgrd.model.adaptor import AudioAdaptor
from mgrd.model.audiolm import AudioLM
from mgrd.model.config import AudioLMConfig
from mgrd.model.encoder import AudioEncoder


def empty_model(cfg: AudioLMConfig, *, dtype: torch.dtype = torch.float32,
                device: str | torch.device = "meta") -> AudioLM:
    """An AudioLM whose parameters are uninitialised: on `meta` (no memory) or allocated on `device`.

    A 33B config costs nothing to build on meta; load weights into it with
    `load_state_dict(..., assign=True)` and then call `restore_buffers`. On a real device the
    parameters hold garbage until loaded or initialised; the rotary tables are already correct.
    """
    from transformers import Qwen2ForCausalLM

    with torch.device("meta"):
        model = AudioLM(AudioEncoder(cfg.encoder), AudioAdaptor(cfg.adaptor),
                        Qwen2ForCausalLM(cfg.text.to_qwen2_config()), audio_token_ids=cfg.audio_token_ids)
    model.to(dtype)
    if torch.device(device).type != "meta":
        model.to_empty(device=device)
        restore_buffers(model, device)
    return model


def restore_buffers(model: AudioLM, device: str | torch.device) -> None:
    """Recompute the non-persistent buffers (Qwen2 rotary frequencies, float32) on `device`.

    They are not in checkpoints, so after a meta build, `to_empty` or a dtype cast they are
    garbage or rounded; recomputing them from the config is the only correct source.
    """
    for name, module in list(model.named_modules()):
        if hasattr(module, "inv_freq") and "rotary" in type(module).__name__.lower():
            with torch.device(device):
                fresh = type(module)(module.config)
            parent_name, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, attr, fresh)
    meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if meta:
        raise RuntimeError(f"{len(meta)} tensors were never materialised, e.g. {meta[:5]}")


def init_weights(model: AudioLM, *, std: float = 0.02, generator: torch.Generator | None = None) -> None:
    """Random init in place: N(0, std) linears and embeddings (HF Qwen2 style), zero biases, unit norms.

    Convolutions keep PyTorch's default (Kaiming-uniform) scheme; the encoder's learned positional
    table starts from Whisper's sinusoids, which is what a from-scratch encoder trains best from.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, std, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.Conv1d):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(module.weight.shape[1] * module.weight.shape[2])
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, std, generator=generator)
                if module.padding_idx is not None:
                    module.weight[module.padding_idx].zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
            elif "rmsnorm" in type(module).__name__.lower():
                module.weight.fill_(1.0)
        table = model.encoder.positional_embedding.weight
        table.copy_(sinusoids(table.shape[0], table.shape[1]))


def build_model(cfg: AudioLMConfig, *, seed: int | None = None, dtype: torch.dtype = torch.float32) -> AudioLM:
    """A randomly initialised AudioLM on CPU; the same seed gives the same weights.

    Initialised in float32 and then cast, so a seed gives the same values in every dtype up to
    rounding. seed=None draws from torch's global generator.
    """
    model = empty_model(cfg, dtype=torch.float32, device="cpu")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    init_weights(model, std=cfg.text.initializer_range, generator=generator)
    if dtype != torch.float32:
        model.to(dtype)
        restore_buffers(model, "cpu")
    return model


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """[length, channels] sin/cos position table (channels even): sin in the first half."""
    if channels % 2:
        raise ValueError(f"sinusoid channels must be even, got {channels}")
    increment = math.log(max_timescale) / (channels // 2 - 1) if channels > 2 else 0.0
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float32))
    scaled = torch.arange(length, dtype=torch.float32)[:, None] * inv_timescales[None, :]
    return torch.cat([scaled.sin(), scaled.cos()], dim=1)
