"""The adaptor that turns 25 Hz encoder features into 12.5 Hz LLM input embeddings."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mgrd.model.config import AdaptorConfig

_CONV_PADDING = 1  # fixed in the official adaptor, independent of kernel_size


class AudioAdaptor(nn.Module):
    """conv (k3 s2) -> GELU -> linear1 (-> adapter_state) -> ReLU -> linear2 (-> llm_dim)."""

    def __init__(self, cfg: AdaptorConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.n_audio_state
        self.conv = nn.Conv1d(d, d, kernel_size=cfg.kernel_size, stride=cfg.adapter_stride, padding=_CONV_PADDING)
        self.linear1 = nn.Linear(d, cfg.adapter_state)
        self.linear2 = nn.Linear(cfg.adapter_state, cfg.llm_dim)

    def output_lengths(self, lens: Tensor) -> Tensor:
        """Valid output frames for valid input frames: (T3 - 1) // 2 + 1 for k3 s2 (0 stays 0)."""
        out = (lens + 2 * _CONV_PADDING - self.cfg.kernel_size) // self.cfg.adapter_stride + 1
        return out.clamp(min=0) * (lens > 0)

    def forward(self, x: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, T3, n_audio_state], lens [B] -> (y [B, T4, llm_dim], lens [B]), T4 = (T3 - 1) // 2 + 1."""
        x = F.gelu(self.conv(x.permute(0, 2, 1))).permute(0, 2, 1)
        x = self.linear2(F.relu(self.linear1(x)))
        return x, self.output_lengths(lens)
