"""A lean KV-cached forward over a Qwen2 decoder's own weights: the engine's fast path.

transformers' Qwen2 forward is the reference (training uses it); this module reads the same
parameters, by reference, and runs prefill and decode steps over a preallocated cache with
left-padded rows. Equivalence with the reference forward is tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class KVCache:
    """Per-layer key/value tensors `[B, n_kv_heads, max_len, head_dim]` and the filled length."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    length: int = 0

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def select(self, rows: torch.Tensor) -> "KVCache":
        """The cache restricted (and reordered) to `rows` of the batch."""
        return KVCache([k.index_select(0, rows) for k in self.keys],
                       [v.index_select(0, rows) for v in self.values], self.length)


class FastDecoder:
    """Runs `model` (a Qwen2Model) and `lm_head` with a static KV cache.

    Rows are left-padded: `pad[b]` leading cache slots of row b hold no token and are masked;
    the token at cache column c of row b has RoPE position `c - pad[b]`.
    """

    def __init__(self, model: nn.Module, lm_head: nn.Linear, config) -> None:
        self.model, self.lm_head = model, lm_head
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        self.eps = config.rms_norm_eps
        rope = getattr(config, "rope_parameters", None) or {}
        self.rope_theta = float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
        if rope.get("rope_type", "default") != "default":
            raise ValueError(f"the fast decoder supports default RoPE only, got {rope.get('rope_type')!r}")
        self._rope_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    # -- pieces --------------------------------------------------------------------------------
    def _rope(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin `[B, 1, L, head_dim]` for integer positions `[B, L]` (computed in fp32 as HF does)."""
        need = int(positions.max()) + 1
        if self._rope_cache is None or self._rope_cache[0].shape[0] < need or \
                self._rope_cache[0].device != positions.device:
            size = max(need, 2 * (self._rope_cache[0].shape[0] if self._rope_cache else 1024))
            idx = torch.arange(0, self.head_dim, 2, dtype=torch.int64, device=positions.device)
            inv_freq = 1.0 / (self.rope_theta ** (idx.float() / self.head_dim))
            freqs = torch.outer(torch.arange(size, device=positions.device).float(), inv_freq)
            emb = torch.cat([freqs, freqs], dim=-1)
            self._rope_cache = (emb.cos(), emb.sin())
        cos, sin = self._rope_cache
        return cos[positions].unsqueeze(1).to(dtype), sin[positions].unsqueeze(1).to(dtype)

    def _rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * x.to(dtype)

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    # -- public --------------------------------------------------------------------------------
    def new_cache(self, batch: int, capacity: int) -> KVCache:
        p = self.lm_head.weight
        shape = (batch, self.n_kv, capacity, self.head_dim)
        n = len(self.model.layers)
        return KVCache([torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in range(n)],
                       [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in range(n)])

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.embed_tokens(input_ids)

    @torch.inference_mode()
    def forward(self, embeds: torch.Tensor, cache: KVCache, pad: torch.Tensor) -> torch.Tensor:
        """Append `embeds [B, L, H]` to the cache and return last-position logits `[B, V]` (fp32).

        `pad [B]` are the left-padding lengths of each row (constant over a generation).
        """
        B, L, _ = embeds.shape
        start, end = cache.length, cache.length + L
        if end > cache.capacity:
            raise ValueError(f"KV cache full: {end} positions needed, capacity {cache.capacity}")
        columns = torch.arange(start, end, device=embeds.device)
        positions = (columns.unsqueeze(0) - pad.unsqueeze(1)).clamp(min=0)
        cos, sin = self._rope(positions, embeds.dtype)
        mask = self._mask(pad, start, end, embeds.device)
        x = embeds
        for i, layer in enumerate(self.model.layers):
            x = self._layer(layer, x, cos, sin, cache.keys[i], cache.values[i], start, end, mask)
        cache.length = end
        x = self._rms_norm(x[:, -1], self.model.norm.weight)
        return self.lm_head(x).float()

    def _mask(self, pad: torch.Tensor, start: int, end: int, device) -> torch.Tensor | None:
        """Boolean attention mask `[B, 1, L, end]` (True = attend), or None when no row is padded
        and the step is a single token."""
        L = end - start
        keys = torch.arange(end, device=device)
        queries = torch.arange(start, end, device=device)
        if L == 1 and not bool((pad > 0).any()):
            return None
        allowed = keys.view(1, 1, 1, end) >= pad.view(-1, 1, 1, 1)
        causal = keys.view(1, 1, 1, end) <= queries.view(1, 1, L, 1)
        mask = allowed & causal
        # A padding query sees no valid key; let it see itself so softmax stays finite (unused).
        return mask | (keys.view(1, 1, 1, end) == queries.view(1, 1, L, 1))

    def _layer(self, layer, x, cos, sin, k_cache, v_cache, start, end, mask):
        B, L, _ = x.shape
        attn = layer.self_attn
        h = self._rms_norm(x, layer.input_layernorm.weight)
        q = attn.q_proj(h).view(B, L, self.n_heads, self.head_dim).transpose(1, 2)
        k = attn.k_proj(h).view(B, L, self.n_kv, self.head_dim).transpose(1, 2)
        v = attn.v_proj(h).view(B, L, self.n_kv, self.head_dim).transpose(1, 2)
        q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
        k_cache[:, :, start:end] = k
        v_cache[:, :, start:end] = v
        o = F.scaled_dot_product_attention(
            q, k_cache[:, :, :end], v_cache[:, :, :end], attn_mask=mask,
            is_causal=False, enable_gqa=self.n_kv != self.n_heads)
        x = x + attn.o_proj(o.transpose(1, 2).reshape(B, L, -1))
        h = self._rms_norm(x, layer.post_attention_layernorm.weight)
        mlp = layer.mlp
        return x + mlp.down_proj(F.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
