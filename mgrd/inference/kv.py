"""A paged KV pool: per layer one `[n_kv_heads, slots, head_dim]` tensor for keys and one for values.

Slots come in blocks of `block` tokens. A request reserves the blocks it can ever need (prompt +
max_tokens, for each of its n samples) when it is admitted and returns them when it finishes:
nothing is copied when a row leaves, and the pool never grows past its budget. A row's slot table
lists its slots in position order; a decode step gathers each row's keys through it.

Heads come first so that a gather is already in the layout attention multiplies by: one
`index_select` gives `[n_kv, B, T, head_dim]`, whose transpose the batched matmul reads in place.
"""

from __future__ import annotations

import torch


class KVPool:
    """Fixed-size storage for `capacity_tokens` tokens' keys and values, handed out in blocks."""

    def __init__(self, n_layers: int, n_kv: int, head_dim: int, capacity_tokens: int, dtype: torch.dtype,
                 device: torch.device | list[torch.device], *, block: int = 16) -> None:
        if capacity_tokens < 2 * block:
            raise ValueError(f"a KV pool needs room for at least two blocks of {block} tokens, got "
                             f"{capacity_tokens} tokens")
        self.block = block
        self.n_blocks = capacity_tokens // block
        slots = self.n_blocks * block
        # Left uninitialised (no memory is touched until used): blocks are zeroed when handed out,
        # so that masked slots never hold NaN. Block 0 is the null block that pads slot tables.
        devices = list(device) if isinstance(device, (list, tuple)) else [device] * n_layers
        self.keys = [torch.empty(n_kv, slots, head_dim, dtype=dtype, device=d) for d in devices]
        self.values = [torch.empty(n_kv, slots, head_dim, dtype=dtype, device=d) for d in devices]
        self.device = devices[0]     # where slot tables are made (each layer moves them to its own)
        self.null_slot = 0
        self._zero(torch.arange(block, device=self.device))
        self._free = list(range(self.n_blocks - 1, 0, -1))

    # -- accounting --------------------------------------------------------------------------------
    @property
    def capacity_tokens(self) -> int:
        return self.n_blocks * self.block

    @property
    def usable_blocks(self) -> int:
        """Blocks that can be handed out (all but the null block)."""
        return self.n_blocks - 1

    @property
    def free_blocks(self) -> int:
        return len(self._free)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block)

    def allocate(self, tokens: int) -> list[int] | None:
        """Blocks for `tokens` tokens, or None when the pool has not that many free now."""
        need = self.blocks_for(tokens)
        if need > len(self._free):
            return None
        blocks = [self._free.pop() for _ in range(need)]
        self._zero(self.slot_table(blocks))
        return blocks

    def _zero(self, slots: torch.Tensor) -> None:
        for t in self.keys + self.values:
            t.index_fill_(1, slots.to(t.device), 0)

    def release(self, blocks: list[int]) -> None:
        self._free.extend(reversed(blocks))

    def slot_table(self, blocks: list[int]) -> torch.Tensor:
        """Slot indices, in position order, of a row that owns `blocks`."""
        ids = torch.tensor(blocks, dtype=torch.long, device=self.device)
        return (ids.unsqueeze(1) * self.block + torch.arange(self.block, device=self.device)).flatten()

    # -- data --------------------------------------------------------------------------------------
    def write(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store keys/values `[n_kv, N, head_dim]` at `slots [N]` of `layer`."""
        slots = slots.to(self.keys[layer].device)
        self.keys[layer].index_copy_(1, slots, k.to(self.keys[layer].dtype))
        self.values[layer].index_copy_(1, slots, v.to(self.values[layer].dtype))

    def gather(self, layer: int, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values `[n_kv, B, T, head_dim]` (contiguous) of slot table `[B, T]`."""
        B, T = table.shape
        flat = table.reshape(-1).to(self.keys[layer].device)
        n_kv, _, d = self.keys[layer].shape
        k = self.keys[layer].index_select(1, flat).view(n_kv, B, T, d)
        v = self.values[layer].index_select(1, flat).view(n_kv, B, T, d)
        return k, v

    def read(self, layer: int, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values `[N, n_kv, head_dim]` held at `slots [N]` of `layer` (a copy)."""
        slots = slots.to(self.keys[layer].device)
        return (self.keys[layer].index_select(1, slots).transpose(0, 1),
                self.values[layer].index_select(1, slots).transpose(0, 1))

    def copy(self, src: torch.Tensor, dst: torch.Tensor) -> None:
        """Copy the keys and values of slots `src` to slots `dst` in every layer (n samples share a prompt)."""
        for t in self.keys + self.values:
            t.index_copy_(1, dst.to(t.device), t.index_select(1, src.to(t.device)))
