"""Big checkpoints on smaller hardware: weight-only quantisation and multi-device layer placement.

Quantisation (`int8` on CPU and GPU, `int4` on GPU) goes through torchao (the `quantize` extra) and
applies to the decoder layers' linear weights only, as `mgrd.inference.plan` counts them; the
embeddings, lm_head, norms and the audio encoder keep their dtype. The engine's fast decoder calls
`F.linear` on the quantised weights, which torchao dispatches to its kernels.

Placement splits the decoder layers into contiguous runs, one per device, in proportion to each
device's free memory after the parts that stay on the first device (embeddings, audio encoder) and
the last (final norm, lm_head). Activations cross devices between layers; each layer's KV cache
lives on its layer's device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

QUANTIZE_MODES = ("int8", "int4")
INSTALL_HINT = 'pip install -e ".[quantize]"'


class MissingExtra(ImportError, ValueError):
    """An optional dependency is not installed (a ValueError too, so the CLI prints one line)."""


def quantize(model, mode: str) -> None:
    """Quantise `model`'s decoder-layer linear weights in place (`int8` or `int4`)."""
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"--quantize {mode!r} is not accepted; accepted: {', '.join(QUANTIZE_MODES)}")
    try:
        from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig, quantize_
    except ImportError:
        raise MissingExtra(f"--quantize needs torchao: {INSTALL_HINT}") from None
    if mode == "int4" and model.lm_head.weight.device.type != "cuda":
        raise ValueError("--quantize int4 runs on a CUDA device only; on the CPU use --quantize int8")
    targets = {id(m) for layer in model.model.layers for m in layer.modules() if isinstance(m, nn.Linear)}
    config = Int8WeightOnlyConfig() if mode == "int8" else Int4WeightOnlyConfig(group_size=128)
    if mode == "int4":
        model.model.layers.to(torch.bfloat16)   # torchao's int4 kernels take bfloat16 activations
    quantize_(model, config, filter_fn=lambda module, fqn: id(module) in targets)


def is_quantized(weight: torch.Tensor) -> bool:
    """True for a torchao tensor subclass (a plain tensor or parameter otherwise)."""
    return type(getattr(weight, "data", weight)) is not torch.Tensor


def split_layers(n_layers: int, free_bytes: Sequence[int], layer_bytes: int, *, first_extra: int = 0,
                 last_extra: int = 0) -> list[int]:
    """How many consecutive decoder layers each device takes (sums to `n_layers`).

    `free_bytes[d]` is what device d can hold; `first_extra` bytes stay on the first device and
    `last_extra` on the last. Layers go in proportion to the room left; raises ValueError when the
    model does not fit at all.
    """
    if not free_bytes:
        raise ValueError("device placement needs at least one device")
    room = list(free_bytes)
    room[0] -= first_extra
    room[-1] -= last_extra
    capacity = [max(0, r) // layer_bytes for r in room]
    if sum(capacity) < n_layers:
        need = n_layers * layer_bytes + first_extra + last_extra
        raise ValueError(f"the model needs {need / 2**30:.1f} GiB for its weights; the devices hold "
                         f"{sum(free_bytes) / 2**30:.1f} GiB: quantise it or add devices")
    total = sum(max(0, r) for r in room)
    shares = [n_layers * max(0, r) / total for r in room]
    counts = [min(c, int(x)) for c, x in zip(capacity, shares)]
    # The rounding remainder goes to the largest fractional shares first, where room is left.
    order = sorted(range(len(counts)), key=lambda d: (-(shares[d] - int(shares[d])), d))
    while sum(counts) < n_layers:
        for d in order:
            if sum(counts) < n_layers and counts[d] < capacity[d]:
                counts[d] += 1
    return counts


def place(model, devices: Sequence[torch.device | str], counts: Sequence[int] | None = None) -> list[torch.device]:
    """Move `model` across `devices`: embeddings and audio on the first, layer runs per `counts`
    (default: `split_layers` over the devices' free memory), final norm and lm_head on the last.
    Returns each layer's device."""
    devices = [torch.device(d) for d in devices]
    layers = model.model.layers
    if counts is None:
        per_layer = sum(p.numel() * p.element_size() for p in layers[0].parameters())
        outside_first = sum(p.numel() * p.element_size() for n, p in model.named_parameters()
                            if not n.startswith(("model.layers.", "model.norm", "lm_head")))
        last = model.lm_head.weight.numel() * model.lm_head.weight.element_size()
        counts = split_layers(len(layers), [free_memory(d) for d in devices], per_layer,
                              first_extra=outside_first, last_extra=last)
    if len(counts) != len(devices) or sum(counts) != len(layers):
        raise ValueError(f"a split of {list(counts)} layers over {len(devices)} devices does not cover the "
                         f"model's {len(layers)} layers")
    model.to(devices[0])
    where = [dev for dev, k in zip(devices, counts) for _ in range(k)]
    for layer, dev in zip(layers, where):
        layer.to(dev)
    model.model.norm.to(devices[-1])
    model.lm_head.to(devices[-1])
    return where


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    import os
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def parse_device_map(spec: str | None) -> tuple[list[str], list[int] | None] | None:
    """`--device-map`: None; "auto" (every visible GPU, split by free memory); or "cuda:0=40,cuda:1=24"
    (an explicit split in layers)."""
    if spec is None:
        return None
    if spec == "auto":
        n = torch.cuda.device_count()
        if n == 0:
            raise ValueError("--device-map auto needs CUDA devices; none is visible")
        return [f"cuda:{i}" for i in range(n)], None
    devices, counts = [], []
    for part in spec.split(","):
        name, sep, k = part.partition("=")
        if not sep or not k.strip().isdigit():
            raise ValueError(f"--device-map {spec!r} is not accepted; accepted: auto, or DEVICE=LAYERS,... "
                             "such as cuda:0=32,cuda:1=32")
        devices.append(name.strip())
        counts.append(int(k))
    return devices, counts


def prepare(model, *, quantize_mode: str | None = None, device_map: str | None = None):
    """What `--quantize` and `--device-map` ask of a loaded model (placement first, then quantisation)."""
    placement = parse_device_map(device_map)
    if placement is not None:
        place(model, *placement)
    if quantize_mode is not None:
        quantize(model, quantize_mode)
    return model
