"""The Whisper-style audio encoder of Step-Audio 2: log-mels (100 Hz) to features (25 Hz)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mgrd.model.config import EncoderConfig

# Additive bias for padded keys: large enough that exp() underflows to exactly 0 in float32,
# small enough to stay finite (an all-masked row then gives uniform weights, not NaN).
MASK_BIAS = -1e10


class MultiHeadAttention(nn.Module):
    """Bidirectional self-attention; keys have no bias, softmax runs in float32."""

    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def forward(self, x: Tensor, key_bias: Tensor | None = None) -> Tensor:
        """x [B, T, d], key_bias [B, 1, 1, T] float32 (0 or MASK_BIAS) -> [B, T, d]."""
        b, t, d = x.shape
        head_dim = d // self.n_head
        # Scaling q and k by head_dim^-0.25 each (not the scores by ^-0.5) matches the
        # official rounding in low precision.
        scale = head_dim ** -0.25
        q = self.query(x).view(b, t, self.n_head, head_dim).permute(0, 2, 1, 3) * scale
        k = self.key(x).view(b, t, self.n_head, head_dim).permute(0, 2, 3, 1) * scale
        v = self.value(x).view(b, t, self.n_head, head_dim).permute(0, 2, 1, 3)
        scores = (q @ k).float()
        if key_bias is not None:
            scores = scores + key_bias
        weights = F.softmax(scores, dim=-1).to(v.dtype)
        out = (weights @ v).permute(0, 2, 1, 3).reshape(b, t, d)
        return self.out(out)


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block: attention then a 4x GELU MLP, each with a residual."""

    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.attn_ln = nn.LayerNorm(n_state)
        self.attn = MultiHeadAttention(n_state, n_head)
        self.mlp_ln = nn.LayerNorm(n_state)
        self.mlp = nn.Sequential(nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state))

    def forward(self, x: Tensor, key_bias: Tensor | None = None) -> Tensor:
        x = x + self.attn(self.attn_ln(x), key_bias)
        return x + self.mlp(self.mlp_ln(x))


class AudioEncoder(nn.Module):
    """conv1 (k3 s1) -> conv2 (k3 s2) -> learned positions -> pre-LN blocks -> avg-pool 2 -> LayerNorm."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.n_audio_state
        self.conv1 = nn.Conv1d(cfg.n_mels, d, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.positional_embedding = nn.Embedding(cfg.n_audio_ctx, d)
        self.blocks = nn.ModuleList(ResidualAttentionBlock(d, cfg.n_audio_head) for _ in range(cfg.n_audio_layer))
        self.avg_pooler = nn.AvgPool1d(2, stride=2)
        self.after_norm = nn.LayerNorm(d, eps=1e-5)

    @staticmethod
    def output_lengths(mel_lens: Tensor) -> Tensor:
        """Valid output frames per item (25 Hz) for mel lengths (100 Hz): (T + 1) // 2 // 2."""
        return (mel_lens + 1) // 2 // 2

    def forward(self, mels: Tensor, mel_lens: Tensor) -> tuple[Tensor, Tensor]:
        """mels [B, n_mels, T] zero-padded, mel_lens [B] -> (features [B, T2 // 2, d], lengths [B]).

        T2 = (T + 1) // 2 must not exceed n_audio_ctx (1500: 30 s of audio).
        """
        if mels.dim() != 3 or mels.shape[1] != self.cfg.n_mels:
            raise ValueError(f"mels must be [B, {self.cfg.n_mels}, T], got {tuple(mels.shape)}")
        t = mels.shape[-1]
        t2 = (t + 1) // 2
        if t2 > self.cfg.n_audio_ctx:
            raise ValueError(f"{t} mel frames give {t2} encoder positions, more than n_audio_ctx="
                             f"{self.cfg.n_audio_ctx} (at most {2 * self.cfg.n_audio_ctx} frames); "
                             f"split the audio into shorter chunks")
        mel_lens = mel_lens.to(device=mels.device, dtype=torch.long)
        x = F.gelu(self.conv1(mels))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        x = x + self.positional_embedding.weight[:t2]
        key_bias = self._key_bias(mel_lens, t)
        for block in self.blocks:
            x = block(x, key_bias)
        x = self.avg_pooler(x.permute(0, 2, 1)).permute(0, 2, 1)
        return self.after_norm(x), self.output_lengths(mel_lens)

    @staticmethod
    def _key_bias(mel_lens: Tensor, t: int) -> Tensor:
        """[B, 1, 1, T2] float32 bias that hides padded keys.

        The official code samples the mel-rate mask at indices (T+1)%2 :: 2; for an odd-length
        item batched with an even max T this drops its last valid frame, which we reproduce.
        """
        valid = torch.arange(t, device=mel_lens.device)[None, :] < mel_lens[:, None]
        valid = valid[:, (t + 1) % 2::2]
        bias = torch.zeros(valid.shape, dtype=torch.float32, device=mel_lens.device)
        return bias.masked_fill(~valid, MASK_BIAS)[:, None, None, :]
