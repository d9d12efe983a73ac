"""Observability: JSONL metrics in the run directory, live progress (mgrd.progress), optional TensorBoard, MFU."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from mgrd.io import read_jsonl, write_jsonl_atomic
from mgrd.progress import ProgressBar

METRICS_FILE = "metrics.jsonl"


class MetricsLog:
    """Appends one JSON object per logged step to RUN/metrics.jsonl (main process only).

    On resume, records after the resumed step (left by the interrupted run) are dropped first,
    so the file reads as one uninterrupted run.
    """

    def __init__(self, run_dir: str | os.PathLike, *, enabled: bool = True, total: int = 0,
                 start_step: int = 0, progress: bool = True, tensorboard: bool = False,
                 show: tuple[str, ...] = ("loss",), label: str | None = None) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.enabled = enabled
        self.show = show
        self._bar = None
        self._tb = None
        if not enabled:
            return
        if self.path.exists():
            kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= start_step]
            write_jsonl_atomic(self.path, kept)
        if progress:
            self._bar = ProgressBar(label or run_label(run_dir), total, start=start_step)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise ValueError("run.tensorboard=true needs the tensorboard package (pip install tensorboard)"
                                 ) from e
            self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def log(self, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "time": round(time.time(), 3), **values}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)
        if self._bar is not None:
            self._bar.update(**{k: values[k] for k in self.show if isinstance(values.get(k), float)})

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()


def run_label(run_dir: str | os.PathLike) -> str:
    """A run's name on its progress bar: the folder's name, or for a pipeline stage's `STAGE/train`
    folder the stage's (`cold_start`, `iter1/rl`)."""
    path = Path(run_dir).absolute()
    if path.name != "train":
        return path.name
    stage, parent = path.parent.name, path.parent.parent.name
    return f"{parent}/{stage}" if parent.startswith("iter") else stage


def decoder_train_flops(num_params: int, num_layers: int, hidden: int, tokens: int, seq_len: int) -> float:
    """Model FLOPs of a forward + backward over `tokens` tokens (PaLM appendix B convention).

    6·N per token for the weight matmuls plus 12·layers·hidden·seq_len per token for attention
    (N excludes the embedding table, which is a lookup). Rematerialisation is not counted.
    """
    return 6.0 * num_params * tokens + 12.0 * num_layers * hidden * seq_len * tokens


def decoder_matmul_params(model) -> int:
    """Parameters that take part in matmuls per token: decoder layers and lm_head (not embeddings)."""
    return sum(p.numel() for n, p in model.named_parameters()
               if n.startswith("model.layers.") or n.startswith("lm_head."))


def measure_peak_flops(device: torch.device | str = "cpu", *, size: int = 1024, dtype=torch.float32,
                       seconds: float = 1.0) -> float:
    """Achieved FLOP/s of a large square matmul on `device`: the practical peak MFU is measured against."""
    device = torch.device(device)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2.0 * size**3 * n / (time.perf_counter() - start)
