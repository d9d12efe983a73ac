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


FUSE_MAX_PARAMETERS = 600_000_000


@dataclass
class _LayerPlan:
    """The weights one decoder layer needs, fused or by reference."""

    ln1: torch.Tensor
    qkv: list[tuple[torch.Tensor, torch.Tensor | None]]   # one fused (w, b) or three
    o: torch.Tensor
    ln2: torch.Tensor
    gate_up: list[torch.Tensor]                            # one fused or two
    down: torch.Tensor


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
        n_params = sum(p.numel() for p in model.parameters())
        # Fusing q/k/v and gate/up into single matmuls copies those weights: worth it for small
        # models (fewer, larger matmuls), not for billions of parameters.
        self.fuse = n_params <= FUSE_MAX_PARAMETERS
        self._plans: list[_LayerPlan] = []
        self._stamp: tuple = ()
        self.refresh()

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
        # As transformers' Qwen2RMSNorm: normalise in float32, cast back, then scale.
        return weight * F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).to(x.dtype)

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    # -- weights -------------------------------------------------------------------------------
    def _weight_stamp(self) -> tuple:
        """Identity and in-place version of every parameter; changes when training updates them."""
        return tuple((p.data_ptr(), p._version) for p in self.model.parameters())

    def refresh(self) -> None:
        """Rebuild the layer plans if the model's weights changed since they were made."""
        stamp = self._weight_stamp()
        if stamp == self._stamp:
            return
        plans = []
        with torch.no_grad():
            for layer in self.model.layers:
                a, m = layer.self_attn, layer.mlp
                projections = [(a.q_proj.weight, a.q_proj.bias), (a.k_proj.weight, a.k_proj.bias),
                               (a.v_proj.weight, a.v_proj.bias)]
                gate_up = [m.gate_proj.weight, m.up_proj.weight]
                if self.fuse:
                    projections = [(torch.cat([w for w, _ in projections]),
                                    torch.cat([b for _, b in projections]))]
                    gate_up = [torch.cat(gate_up)]
                plans.append(_LayerPlan(layer.input_layernorm.weight, projections, a.o_proj.weight,
                                        layer.post_attention_layernorm.weight, gate_up, m.down_proj.weight))
        self._plans, self._stamp = plans, stamp

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
        for i, plan in enumerate(self._plans):
            x = self._layer(plan, x, cos, sin, cache.keys[i], cache.values[i], start, end, mask)
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

    def _attend(self, q, k, v, mask):
        """Attention of q [B, H, L, d] over cached k, v [B, KV, T, d] (grouped-query)."""
        B, H, L, d = q.shape
        if L > 1:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=self.n_kv != H)
        # One query per row: two small matmuls beat the fused kernel's set-up cost here.
        group = H // self.n_kv
        qg = q.view(B, self.n_kv, group, d)
        scores = torch.matmul(qg, k.transpose(-1, -2)).mul_(d ** -0.5)
        if mask is not None:
            scores = scores.masked_fill(~mask.view(B, 1, 1, -1), float("-inf"))
        return torch.matmul(scores.softmax(dim=-1), v).view(B, H, 1, d)

    def _layer(self, plan: _LayerPlan, x, cos, sin, k_cache, v_cache, start, end, mask):
        B, L, _ = x.shape
        h = self._rms_norm(x, plan.ln1)
        heads = self.n_heads + 2 * self.n_kv
        if len(plan.qkv) == 1:
            qkv = F.linear(h, *plan.qkv[0]).view(B, L, heads, self.head_dim).transpose(1, 2)
        else:
            qkv = torch.cat([F.linear(h, w, b) for w, b in plan.qkv], dim=-1)
            qkv = qkv.view(B, L, heads, self.head_dim).transpose(1, 2)
        # q and k share the rotation: one op over both.
        qk = self._rotate(qkv[:, :self.n_heads + self.n_kv], cos, sin)
        q, k = qk[:, :self.n_heads], qk[:, self.n_heads:]
        v = qkv[:, self.n_heads + self.n_kv:]
        k_cache[:, :, start:end] = k
        v_cache[:, :, start:end] = v
        o = self._attend(q, k_cache[:, :, :end], v_cache[:, :, :end], mask)
        x = x + F.linear(o.transpose(1, 2).reshape(B, L, -1), plan.o)
        h = self._rms_norm(x, plan.ln2)
        if len(plan.gate_up) == 1:
            gate, up = F.linear(h, plan.gate_up[0]).chunk(2, dim=-1)
        else:
            gate, up = (F.linear(h, w) for w in plan.gate_up)
        return x + F.linear(F.silu(gate) * up, plan.down)
