"""A lean KV-cached forward over a Qwen2 decoder's own weights: the engine's fast path.

transformers' Qwen2 forward is the reference (training uses it); this module reads the same
parameters, by reference, and runs a prompt's prefill and batched one-token decode steps over a
paged KV pool (`mgrd.inference.kv`): every row has its own slots, its own positions, no padding.
Equivalence with the reference forward is tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mgrd.inference.kv import KVPool


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

    Each row's tokens sit at positions 0, 1, ... in pool slots of its own (a slot table per row).
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
        # Quantised weights are tensor subclasses that cannot be concatenated: never fused.
        self.fuse = n_params <= FUSE_MAX_PARAMETERS and not any(
            type(p.data) is not torch.Tensor for p in model.parameters())
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
        return tuple((id(p.data), p._version) if type(p.data) is not torch.Tensor else (p.data_ptr(), p._version)
                     for p in self.model.parameters())

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
    @property
    def kv_dtype(self) -> torch.dtype:
        """The activations' dtype (that of the norms: quantised linear weights have their own)."""
        return self.model.norm.weight.dtype

    def new_pool(self, tokens: int, *, block: int = 16) -> KVPool:
        return KVPool(len(self.model.layers), self.n_kv, self.head_dim, tokens, self.kv_dtype,
                      [layer.input_layernorm.weight.device for layer in self.model.layers], block=block)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.embed_tokens(input_ids.to(self.model.embed_tokens.weight.device))

    @torch.inference_mode()
    def prefill(self, embeds: torch.Tensor, pool: KVPool, slots: torch.Tensor) -> torch.Tensor:
        """Run one prompt `embeds [1, L, H]` (positions 0..L-1), writing its keys and values to
        pool `slots [L]`; last-position logits `[1, V]` (fp32)."""
        L = embeds.shape[1]
        cos, sin = self._rope(torch.arange(L, device=embeds.device).unsqueeze(0), embeds.dtype)

        def attend(i, q, k, v):
            pool.write(i, slots, k[0], v[0])
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv != self.n_heads)

        return self._run(embeds, cos, sin, attend)

    @torch.inference_mode()
    def decode(self, embeds: torch.Tensor, pool: KVPool, table: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One step for B rows: `embeds [B, 1, H]`; row b's token goes at position `lengths[b]`, its
        cache is pool slots `table[b, :lengths[b] + 1]` (the rest of the row is masked);
        last-position logits `[B, V]` (fp32)."""
        B = embeds.shape[0]
        lengths = lengths.to(embeds.device)
        table = table.to(embeds.device)
        cos, sin = self._rope(lengths.unsqueeze(1), embeds.dtype)
        new = table.gather(1, lengths.unsqueeze(1)).squeeze(1)
        width = table.shape[1]
        mask = torch.arange(width, device=embeds.device).unsqueeze(0) <= lengths.unsqueeze(1)

        def attend(i, q, k, v):
            pool.write(i, new, k[:, :, 0].transpose(0, 1), v[:, :, 0].transpose(0, 1))
            keys, values = pool.gather(i, table)
            return self._attend(q, keys, values, mask.to(q.device))

        return self._run(embeds, cos, sin, attend)

    def _run(self, x, cos, sin, attend) -> torch.Tensor:
        for i, plan in enumerate(self._plans):
            if x.device != plan.ln1.device:   # a layer placed on the next device
                x, cos, sin = x.to(plan.ln1.device), cos.to(plan.ln1.device), sin.to(plan.ln1.device)
            x = self._layer(plan, x, cos, sin, lambda q, k, v, i=i: attend(i, q, k, v))
        x = self._rms_norm(x[:, -1].to(self.model.norm.weight.device), self.model.norm.weight)
        return self.lm_head(x).float()

    def _attend(self, q, k, v, mask):
        """Attention of one query per row, q [B, H, 1, d], over k, v [KV, B, T, d] (grouped-query;
        the pool's layout, read in place) with mask [B, T]; [B, H, 1, d]."""
        B, H, _, d = q.shape
        # Two batched matmuls over (kv head, row) beat the fused kernel's set-up cost here.
        qg = q.view(B, self.n_kv, H // self.n_kv, d).transpose(0, 1)           # [KV, B, group, d]
        scores = torch.matmul(qg, k.transpose(-1, -2)).mul_(d ** -0.5)           # [KV, B, group, T]
        scores = scores.masked_fill_(~mask.view(1, B, 1, -1), float("-inf"))
        return torch.matmul(scores.softmax(dim=-1), v).transpose(0, 1).reshape(B, H, 1, d)

    def _layer(self, plan: _LayerPlan, x, cos, sin, attend):
        B, L, D = x.shape
        x = x.reshape(B * L, D)      # the linear layers run on 2-D inputs (faster than [B, L, D])
        h = self._rms_norm(x, plan.ln1)
        heads = self.n_heads + 2 * self.n_kv
        if len(plan.qkv) == 1:
            qkv = F.linear(h, *plan.qkv[0])
        else:
            qkv = torch.cat([F.linear(h, w, b) for w, b in plan.qkv], dim=-1)
        qkv = qkv.view(B, L, heads, self.head_dim).transpose(1, 2)
        # q and k share the rotation: one op over both.
        qk = self._rotate(qkv[:, :self.n_heads + self.n_kv], cos, sin)
        q, k = qk[:, :self.n_heads], qk[:, self.n_heads:]
        v = qkv[:, self.n_heads + self.n_kv:]
        o = attend(q, k, v)
        x = x + F.linear(o.transpose(1, 2).reshape(B * L, -1), plan.o)
        h = self._rms_norm(x, plan.ln2)
        if len(plan.gate_up) == 1:
            gate, up = F.linear(h, plan.gate_up[0]).chunk(2, dim=-1)
        else:
            gate, up = (F.linear(h, w) for w in plan.gate_up)
        return (x + F.linear(F.silu(gate) * up, plan.down)).view(B, L, D)
