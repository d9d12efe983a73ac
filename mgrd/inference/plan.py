"""Inference memory arithmetic: weight bytes per dtype / quantisation, KV bytes per token, what fits.

One implementation, used by `mgrd plan` and by the server's KV budget. Sizes follow the model's
own module tree (Qwen2 decoder with an untied lm_head, the Whisper-style encoder, the adaptor);
`parameter_counts` equals `sum(p.numel())` of a built model (tested).

Quantisation is weight-only and applies to the decoder layers' linear weights: int8 stores one
byte per weight plus one bfloat16 scale per output row; int4 half a byte per weight plus a
bfloat16 scale and zero point per group of `INT4_GROUP` weights. Embeddings, lm_head, norms,
biases and the audio encoder stay in bfloat16 (float32 for a float32 plan).
"""

from __future__ import annotations

from dataclasses import dataclass

from mgrd.model.config import AudioLMConfig, TextConfig

GiB = 1024 ** 3
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
WEIGHT_FORMATS = ("float32", "bfloat16", "int8", "int4")
INT4_GROUP = 128
GPU_MEMORY_UTILIZATION = 0.9     # share of each device's memory the plan may use (vLLM's default)
ACTIVATION_RESERVE_GIB = 1.0     # per device: activations, logits and allocator slack


@dataclass(frozen=True)
class ParameterCounts:
    """Parameters by part; `quantisable` = the decoder layers' linear weights (no biases)."""

    decoder: int
    encoder: int
    adaptor: int
    quantisable: int
    quantisable_rows: int       # output rows of those weights (one int8 scale each)

    @property
    def total(self) -> int:
        return self.decoder + self.encoder + self.adaptor


def parameter_counts(config: AudioLMConfig) -> ParameterCounts:
    t, e, a = config.text, config.encoder, config.adaptor
    h, kv = t.hidden_size, t.num_key_value_heads * head_dim(t)
    linear = h * h + 2 * h * kv + h * h + 3 * h * t.intermediate_size      # q, k, v, o, gate, up, down
    rows = h + 2 * kv + h + 2 * t.intermediate_size + h
    per_layer = linear + (h + 2 * kv) + 2 * h                              # + q/k/v biases + 2 norms
    decoder = 2 * t.vocab_size * h + t.num_hidden_layers * per_layer + h
    d = e.n_audio_state
    block = (4 * d * d + 3 * d) + 2 * (2 * d) + (d * 4 * d + 4 * d + 4 * d * d + d)
    encoder = (e.n_mels * d * 3 + d) + (d * d * 3 + d) + e.n_audio_ctx * d + e.n_audio_layer * block + 2 * d
    adaptor = (a.n_audio_state * a.n_audio_state * a.kernel_size + a.n_audio_state) + \
        (a.n_audio_state * a.adapter_state + a.adapter_state) + (a.adapter_state * a.llm_dim + a.llm_dim)
    return ParameterCounts(decoder, encoder, adaptor, t.num_hidden_layers * linear, t.num_hidden_layers * rows)


def head_dim(t: TextConfig) -> int:
    return t.hidden_size // t.num_attention_heads


def weight_bytes(config: AudioLMConfig, fmt: str) -> int:
    """Bytes of all weights stored as `fmt` (float32, bfloat16, int8 or int4)."""
    if fmt not in WEIGHT_FORMATS:
        raise ValueError(f"unknown weight format {fmt!r}; accepted: {', '.join(WEIGHT_FORMATS)}")
    c = parameter_counts(config)
    if fmt in DTYPE_BYTES:
        return c.total * DTYPE_BYTES[fmt]
    rest = (c.total - c.quantisable) * 2
    if fmt == "int8":
        return rest + c.quantisable + 2 * c.quantisable_rows
    return rest + c.quantisable // 2 + 2 * 2 * (c.quantisable // INT4_GROUP)


def kv_bytes_per_token(t: TextConfig, dtype: str = "bfloat16") -> int:
    """Keys and values of one token over all layers."""
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown KV dtype {dtype!r}; accepted: {', '.join(DTYPE_BYTES)}")
    return 2 * t.num_hidden_layers * t.num_key_value_heads * head_dim(t) * DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class Fit:
    """How many requests of `tokens_per_request` fit on `gpus` devices of `gib_per_gpu` GiB."""

    weight_format: str
    weights_bytes: int
    usable_bytes: int
    kv_bytes: int               # what is left for the KV cache (may be negative: weights do not fit)
    kv_bytes_per_request: int
    concurrent_requests: int


def fit(config: AudioLMConfig, *, gpus: int, gib_per_gpu: float, tokens_per_request: int,
        weight_format: str = "bfloat16", kv_dtype: str = "bfloat16",
        utilization: float = GPU_MEMORY_UTILIZATION) -> Fit:
    """usable = gpus x GiB x utilization - gpus x reserve; KV room = usable - weights."""
    if gpus < 1 or gib_per_gpu <= 0 or tokens_per_request < 1 or not 0 < utilization <= 1:
        raise ValueError("gpus >= 1, gib_per_gpu > 0, tokens_per_request >= 1 and utilization in (0, 1] "
                         f"are required; got {gpus}, {gib_per_gpu}, {tokens_per_request}, {utilization}")
    weights = weight_bytes(config, weight_format)
    usable = int(gpus * gib_per_gpu * GiB * utilization) - int(gpus * ACTIVATION_RESERVE_GIB * GiB)
    kv = usable - weights
    per_request = tokens_per_request * kv_bytes_per_token(config.text, kv_dtype)
    return Fit(weight_format, weights, usable, kv, per_request, max(0, kv // per_request))


def kv_budget_tokens(kv_bytes: int, t: TextConfig, dtype: str) -> int:
    """How many tokens' keys and values a budget of `kv_bytes` holds."""
    return max(0, kv_bytes // kv_bytes_per_token(t, dtype))


def default_kv_bytes(device, *, cpu_share: float = 0.25) -> int:
    """A KV budget from free memory: on a GPU, `GPU_MEMORY_UTILIZATION` of its memory less what is
    in use and the activation reserve; on the CPU, `cpu_share` of the available RAM."""
    import os

    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        used = total - free
        return max(0, int(total * GPU_MEMORY_UTILIZATION) - used - int(ACTIVATION_RESERVE_GIB * GiB))
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(available * cpu_share)


def released_config(name: str) -> AudioLMConfig:
    """The released checkpoints' shapes (format reference §1.2): r1, r1.1, step-audio-2-mini."""
    from mgrd.model.config import AdaptorConfig, EncoderConfig

    shapes = {"r1": (5120, 27648, 64, 40, 8, 1e-5, 65536), "r1.1": (5120, 27648, 64, 40, 8, 1e-5, 65536),
              "step-audio-2-mini": (3584, 18944, 28, 28, 4, 1e-6, 16384)}
    key = name.lower()
    if key not in shapes:
        raise ValueError(f"unknown released model {name!r}; accepted: {', '.join(shapes)} or a checkpoint "
                         "directory / config.json")
    h, inter, layers, heads, kv, eps, ctx = shapes[key]
    text = TextConfig(vocab_size=158720, hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv, rms_norm_eps=eps, rope_theta=1e6,
                      max_position_embeddings=ctx, eos_token_id=(151643,), pad_token_id=151643)
    return AudioLMConfig(text=text, encoder=EncoderConfig(), adaptor=AdaptorConfig(llm_dim=h))


def load_plan_config(source: str) -> AudioLMConfig:
    """A released name, a checkpoint directory or a config.json path."""
    from pathlib import Path

    from mgrd.model.config import read_config

    path = Path(source)
    if path.is_dir():
        return read_config(path)
    if path.is_file():
        import json
        return AudioLMConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    return released_config(source)


def report(config: AudioLMConfig, *, gpus: int, gib_per_gpu: float, prompt_tokens: int,
           generation_tokens: int) -> str:
    """The plan as text: weights per format, KV bytes per token, concurrent requests that fit."""
    c = parameter_counts(config)
    t = config.text
    lines = [f"parameters: {c.total:,} (decoder {c.decoder:,}, audio encoder {c.encoder:,}, adaptor {c.adaptor:,})",
             f"KV cache per token: {kv_bytes_per_token(t, 'bfloat16'):,} bytes in bfloat16 "
             f"({t.num_hidden_layers} layers x 2 x {t.num_key_value_heads} KV heads x {head_dim(t)}), "
             f"{kv_bytes_per_token(t, 'float32'):,} in float32",
             f"context: {t.max_position_embeddings:,} tokens = {kv_bytes_per_token(t) * t.max_position_embeddings / GiB:.2f}"
             " GiB of bfloat16 KV per full-length request",
             f"fit on {gpus} x {gib_per_gpu:g} GiB ({GPU_MEMORY_UTILIZATION:.0%} usable, "
             f"{ACTIVATION_RESERVE_GIB:g} GiB per device for activations), requests of "
             f"{prompt_tokens} + {generation_tokens} tokens:",
             f"  {'weights':<10}{'weight GiB':>12}{'KV GiB left':>14}{'concurrent':>12}"]
    for fmt in WEIGHT_FORMATS:
        f = fit(config, gpus=gpus, gib_per_gpu=gib_per_gpu, tokens_per_request=prompt_tokens + generation_tokens,
                weight_format=fmt, kv_dtype="float32" if fmt == "float32" else "bfloat16")
        lines.append(f"  {fmt:<10}{f.weights_bytes / GiB:>12.2f}{f.kv_bytes / GiB:>14.2f}{f.concurrent_requests:>12}")
    return "\n".join(lines)
