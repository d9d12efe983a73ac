"""Continuous batching: requests join the running batch at a step boundary and leave it when done.

A `ContinuousBatch` owns a paged KV pool (`mgrd.inference.kv`). `add` admits a request if its n
rows fit (KV blocks for prompt + max_tokens each, and the row limit), prefills its prompt once and
copies the prompt's keys to its other samples; `step` samples one token for every live row,
returns the step's events and finished generations, and runs one batched decode for the rows that
go on. A finished row hands its blocks back; nothing else moves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import torch

from mgrd.inference.sampling import RowSampling, SamplingParams, apply_repetition_penalty, sample_rows
from mgrd.inference.stream import Detokenizer, ReasoningSplitter


@dataclass
class Row:
    key: Hashable
    sample_index: int
    params: SamplingParams
    sampling: RowSampling
    stop_ids: frozenset[int]
    reasoning_open: bool
    prompt_open: bool                    # the reasoning state the prompt left (for parsing the text)
    blocks: list[int] = field(default_factory=list)
    table: torch.Tensor | None = None
    length: int = 0                      # tokens in this row's cache
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    sampled: list[bool] = field(default_factory=list)
    forced: deque = field(default_factory=deque)
    seen: torch.Tensor | None = None
    reasoning_tokens: int = 0
    tail: str = ""
    finish: str | None = None
    detok: Detokenizer | None = None
    splitter: ReasoningSplitter | None = None


class ContinuousBatch:
    """Rows of many requests decoded together over one KV pool; see the module docstring."""

    def __init__(self, engine, pool, *, max_rows: int, stream: bool) -> None:
        self.engine, self.pool, self.max_rows, self.stream = engine, pool, max_rows, stream
        self.rows: list[Row] = []
        self._logits: torch.Tensor | None = None     # [len(rows), V]: each live row's next-token logits
        self._table: torch.Tensor | None = None      # [len(rows), W]: slot tables, padded with the null slot

    # -- admission ---------------------------------------------------------------------------------
    def tokens_needed(self, prompt, params: SamplingParams) -> int:
        """KV tokens one row of this request can ever hold: its prompt (prefill included) + max_tokens."""
        ids, _ = self.engine.prompt_ids(prompt, params)
        return len(ids) + params.max_tokens

    def fits_ever(self, prompt, params: SamplingParams) -> bool:
        return params.n * self.pool.blocks_for(self.tokens_needed(prompt, params)) <= self.pool.usable_blocks

    @property
    def idle(self) -> bool:
        return not self.rows

    def add(self, key: Hashable, prompt, params: SamplingParams) -> bool:
        """Admit a request (prefill now) if its rows fit; False (nothing changed) if not now."""
        ids, prompt_open = self.engine.prompt_ids(prompt, params)
        if self.rows and len(self.rows) + params.n > self.max_rows:
            return False
        need = len(ids) + params.max_tokens
        taken = []
        for _ in range(params.n):
            blocks = self.pool.allocate(need)
            if blocks is None:
                for b in taken:
                    self.pool.release(b)
                return False
            taken.append(blocks)
        rows = [self.engine.new_row(key, s, params, prompt_open, self.stream) for s in range(params.n)]
        for row, blocks in zip(rows, taken):
            row.blocks, row.table, row.length = blocks, self.pool.slot_table(blocks), len(ids)
        try:
            logits = self.engine.prefill(ids, prompt, self.pool, rows[0].table[:len(ids)])
        except BaseException:
            for b in taken:
                self.pool.release(b)
            raise
        for row in rows[1:]:
            self.pool.copy(rows[0].table[:len(ids)], row.table[:len(ids)])
        if params.repetition_penalty != 1.0:
            seen = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
            seen[torch.tensor(ids, device=logits.device).clamp(max=logits.shape[-1] - 1)] = True
            for row in rows:
                row.seen = seen.clone()
        self._join(rows, logits.expand(params.n, -1))
        return True

    def _join(self, rows: list[Row], logits: torch.Tensor) -> None:
        self.rows.extend(rows)
        self._logits = logits if self._logits is None else torch.cat([self._logits, logits])
        self._rebuild_table()

    def _rebuild_table(self) -> None:
        if not self.rows:
            self._table = self._logits = None
            return
        width = max(r.table.numel() for r in self.rows)
        table = torch.full((len(self.rows), width), self.pool.null_slot, dtype=torch.long, device=self.pool.device)
        for b, r in enumerate(self.rows):
            table[b, :r.table.numel()] = r.table
        self._table = table

    # -- one step ----------------------------------------------------------------------------------
    def step(self, abort: Callable[[Hashable], bool] | None = None) -> tuple[list, list]:
        """Sample a token for every row; (stream events, finished generations) of this step."""
        if not self.rows:
            return [], []
        rows, logits = self.rows, self._logits
        if any(r.seen is not None for r in rows):
            seen = torch.stack([r.seen if r.seen is not None else torch.zeros_like(logits[0], dtype=torch.bool)
                                for r in rows])
            penalty = torch.tensor([r.params.repetition_penalty for r in rows], device=logits.device)
            logits = apply_repetition_penalty(logits, seen, penalty)
        log_norm = torch.logsumexp(logits, dim=-1)
        chosen = sample_rows(logits, [r.sampling for r in rows]).tolist()
        for j, r in enumerate(rows):
            r.sampled.append(not r.forced)
            if r.forced:
                chosen[j] = r.forced.popleft()
        token_tensor = torch.tensor(chosen, device=logits.device)
        picked = (logits.gather(1, token_tensor.unsqueeze(1)).squeeze(1) - log_norm).tolist()
        events, finished, keep = [], [], []
        for j, r in enumerate(rows):
            if r.seen is not None:
                r.seen[chosen[j]] = True
            event = self.engine.advance(r, chosen[j], picked[j])
            if r.finish is None and abort is not None and abort(r.key):
                r.finish = "abort"
                if event is not None:
                    event.finish_reason = "abort"
            if event is not None:
                events.append(event)
            if r.finish is None:
                keep.append(j)
            else:
                self.pool.release(r.blocks)
                r.blocks = []
                if not self.stream:
                    finished.append(self.engine.finished(r))
        self._decode(keep, token_tensor)
        return events, finished

    def _decode(self, keep: list[int], token_tensor: torch.Tensor) -> None:
        if len(keep) != len(self.rows):
            sel = torch.tensor(keep, dtype=torch.long, device=token_tensor.device)
            self.rows = [self.rows[j] for j in keep]
            token_tensor = token_tensor[sel]
            self._table = self._table[sel] if keep else None
            if not keep:
                self._logits = None
                return
        lengths = torch.tensor([r.length for r in self.rows], device=token_tensor.device)
        width = int(lengths.max()) + 1
        self._logits = self.engine.decode_step(token_tensor, self.pool, self._table[:, :width], lengths)
        for r in self.rows:
            r.length += 1

    def abort_all(self) -> list:
        """End every row now with finish_reason "abort"; their final events."""
        events = []
        for r in self.rows:
            r.finish = "abort"
            self.pool.release(r.blocks)
            r.blocks = []
            if self.stream:
                events.append(self.engine.final_event(r))
        self.rows, self._logits, self._table = [], None, None
        return events
