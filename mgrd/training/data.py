"""Training data: chat-JSONL sources, a seeded mixture sampler with exact positions, and collation.

A record is one JSON line with `"messages"` in mgrd.chat's format; audio parts name files
relative to the JSONL file's directory (`{"type": "audio", "audio": "audio/x.flac"}`). SFT trains
the final assistant message; `{"text": ...}` records are plain text for decoder pretraining;
preference records add `"chosen"` and `"rejected"` completions; RL prompt records carry
`"answer"` (and optional `"choices"`).
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mgrd.chat import EOT, Tokenizer, encode, encode_prompt
from mgrd.inference.conversation import AUDIO_PART_TYPES, AudioLimits, expand_audio
from mgrd.inference.engine import Prompt
from mgrd.io import read_jsonl

IGNORE = -100
LOSS_ON = ("assistant", "all")


@dataclass(frozen=True)
class Example:
    """One encoded training sequence: ids, per-token loss mask and its log-mel chunks in order."""

    input_ids: list[int]
    loss_mask: list[int]
    audio_mels: tuple[torch.Tensor, ...] = ()
    key: str = ""                 # "source:index", for logging which samples were consumed


@dataclass
class Batch:
    """Right-padded tensors [B, L]; labels[t] is the token after t (IGNORE where not trained)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    loss_mask: torch.Tensor
    attention_mask: torch.Tensor
    audio_mels: list[torch.Tensor] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return int(self.loss_mask.sum())

    def to(self, device: torch.device) -> Batch:
        return Batch(self.input_ids.to(device), self.labels.to(device), self.loss_mask.to(device),
                     self.attention_mask.to(device), [m.to(device) for m in self.audio_mels], self.keys)


def read_records(path: str | os.PathLike) -> list[dict]:
    """Records of a JSONL file with audio paths made absolute (relative to the file's directory)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist")
    base = path.parent
    records = []
    for i, record in enumerate(read_jsonl(path)):
        if not isinstance(record, dict):
            raise ValueError(f"{path}: record {i} is not a JSON object")
        records.append(_resolve_audio(record, base))
    if not records:
        raise ValueError(f"{path} holds no records")
    return records


def _resolve_audio(record: dict, base: Path) -> dict:
    record = copy.deepcopy(record)
    if isinstance(record.get("audio"), str) and not os.path.isabs(record["audio"]):
        record["audio"] = str(base / record["audio"])   # encoder-pretraining records
    for key in ("messages", "prompt"):
        for message in record.get(key) or ():
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            for part in content:
                if isinstance(part, dict) and part.get("type") in AUDIO_PART_TYPES and \
                        isinstance(part.get("audio"), str) and not os.path.isabs(part["audio"]):
                    part["audio"] = str(base / part["audio"])
    return record


def file_digest(path: str | os.PathLike) -> str:
    """sha256 (16 hex) of a data file's bytes: a resumed run refuses changed data."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def prompt_messages(record: Mapping[str, Any]) -> list[dict]:
    """The prompt of a record: its messages without a final assistant target."""
    messages = record.get("messages") or record.get("prompt")
    if not isinstance(messages, list) or not messages:
        raise ValueError("a record needs a non-empty 'messages' list")
    if messages[-1].get("role") == "assistant":
        messages = messages[:-1]
    if not messages:
        raise ValueError("a record's messages hold only an assistant message; a prompt is needed")
    return list(messages)


def encode_example(record: Mapping[str, Any], tokenizer: Tokenizer, *, loss_on: str = "assistant",
                   limits: AudioLimits = AudioLimits(), key: str = "") -> Example:
    """Ids, loss mask and audio of one SFT or pretraining record.

    loss_on="assistant" trains the final assistant message (paper eq. 1); "all" trains every
    token except the audio slots (plain language modelling). `{"text": ...}` records are raw
    text followed by `<|endoftext|>`, trained on every token.
    """
    if loss_on not in LOSS_ON:
        raise ValueError(f"loss_on={loss_on!r}; accepted: {', '.join(LOSS_ON)}")
    if "messages" not in record and isinstance(record.get("text"), str):
        ids = tokenizer.encode(record["text"]) + [tokenizer.special.endoftext]
        return Example(ids, [1] * len(ids), (), key)
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("a record needs a non-empty 'messages' list (or a 'text' string)")
    messages, mels, counts = expand_audio(list(messages), limits=limits)
    enc = encode(messages, counts, tokenizer)
    mask = enc.loss_mask
    if loss_on == "all":
        sp = tokenizer.special
        audio = {sp.audio_start, sp.audio_patch, sp.audio_end}
        mask = [0 if t in audio else 1 for t in enc.input_ids]
    if not any(mask):
        raise ValueError("the record has no trained token: give a final assistant message as the target")
    return Example(enc.input_ids, mask, tuple(mels), key)


def encode_pair(record: Mapping[str, Any], tokenizer: Tokenizer, *, limits: AudioLimits = AudioLimits(),
                key: str = "") -> tuple[Example, Example]:
    """(chosen, rejected) examples of a preference record: prompt messages + two completions."""
    prompt = prompt_messages(record)
    out = []
    for side in ("chosen", "rejected"):
        completion = record.get(side)
        if isinstance(completion, dict):
            completion = completion.get("content")
        if not isinstance(completion, (str, list)) or not completion:
            raise ValueError(f"a preference record needs a non-empty {side!r} completion (string content)")
        out.append(encode_example({"messages": prompt + [{"role": "assistant", "content": completion}]},
                                  tokenizer, limits=limits, key=f"{key}:{side}"))
    return out[0], out[1]


def encode_rl_prompt(record: Mapping[str, Any], tokenizer: Tokenizer, *,
                     limits: AudioLimits = AudioLimits()) -> Prompt:
    """The engine prompt of an RL record (its messages up to the generation prompt)."""
    messages, mels, counts = expand_audio(prompt_messages(record), limits=limits)
    enc = encode_prompt(messages, counts, tokenizer)
    return Prompt(tuple(enc.input_ids), tuple(mels))


def collate(examples: Sequence[Example], pad_id: int) -> Batch:
    """Right-pad examples into a Batch; labels are shifted ids where the next token is trained."""
    width = max(len(e.input_ids) for e in examples)
    B = len(examples)
    ids = torch.full((B, width), pad_id, dtype=torch.long)
    labels = torch.full((B, width), IGNORE, dtype=torch.long)
    mask = torch.zeros(B, width, dtype=torch.float32)
    attn = torch.zeros(B, width, dtype=torch.long)
    for b, e in enumerate(examples):
        n = len(e.input_ids)
        row = torch.tensor(e.input_ids, dtype=torch.long)
        ids[b, :n] = row
        attn[b, :n] = 1
        trained = torch.tensor(e.loss_mask[1:], dtype=torch.bool)
        labels[b, : n - 1] = torch.where(trained, row[1:], torch.full_like(row[1:], IGNORE))
        mask[b, : n - 1] = trained.float()
    mels = [m for e in examples for m in e.audio_mels]
    return Batch(ids, labels, mask, attn, mels, [e.key for e in examples])


class MixtureSampler:
    """Which (source, index) sits at each global position of an endless, seeded, mixed stream.

    The stream is cut into rounds of `round_size` samples (the total data size rounded down to
    whole batches); in round r each source contributes its share (ratios normalised, largest
    remainders) from its own reshuffled permutations, then the round is shuffled. With length
    grouping, each window of 16 batches is sorted by length and cut into batches whose order
    is shuffled, so padding stays small. Everything is a pure function of (seed, position):
    resuming at a position gives exactly the samples an uninterrupted run would have seen.
    """

    def __init__(self, sizes: Sequence[int], ratios: Sequence[float], *, batch_size: int, seed: int,
                 lengths: Sequence[Sequence[int]] | None = None, group_by_length: bool = False) -> None:
        if len(sizes) != len(ratios) or not sizes:
            raise ValueError("give one ratio per data source (and at least one source)")
        if any(r < 0 for r in ratios) or sum(ratios) <= 0:
            raise ValueError(f"mixture ratios must be >= 0 with a positive sum, got {list(ratios)}")
        if any(n <= 0 for n, r in zip(sizes, ratios) if r > 0):
            raise ValueError("a data source with a positive ratio is empty")
        self.sizes, self.batch_size, self.seed = list(sizes), batch_size, seed
        self.lengths = lengths
        self.group = group_by_length and lengths is not None
        self.round_size = max(batch_size, (sum(sizes) // batch_size) * batch_size)
        total = float(sum(ratios))
        exact = [self.round_size * r / total for r in ratios]
        quota = [math.floor(x) for x in exact]
        for i in sorted(range(len(exact)), key=lambda i: quota[i] - exact[i])[: self.round_size - sum(quota)]:
            quota[i] += 1
        self.quota = quota
        self._cache: dict[int, list[tuple[int, int]]] = {}

    def _round(self, r: int) -> list[tuple[int, int]]:
        if r in self._cache:
            return self._cache[r]
        items: list[tuple[int, int]] = []
        for s, (size, want) in enumerate(zip(self.sizes, self.quota)):
            # Source s's permutations continue across rounds, so every item is used once
            # before any is repeated, whatever the quota.
            start = r * want
            for pos in range(start, start + want):
                epoch, offset = divmod(pos, size)
                items.append((s, self._perm(s, epoch, size)[offset]))
        rng = random.Random(f"{self.seed}:round:{r}")
        rng.shuffle(items)
        if self.group:
            window = self.batch_size * 16
            batches = []
            for w in range(0, len(items), window):
                chunk = sorted(items[w:w + window], key=lambda it: -self.lengths[it[0]][it[1]])
                batches += [chunk[k:k + self.batch_size] for k in range(0, len(chunk), self.batch_size)]
            rng.shuffle(batches)
            items = [it for b in batches for it in b]
        self._cache = {r: items}   # one round at a time is all a run needs
        return items

    def _perm(self, source: int, epoch: int, size: int) -> list[int]:
        order = list(range(size))
        random.Random(f"{self.seed}:source:{source}:epoch:{epoch}").shuffle(order)
        return order

    def at(self, position: int) -> tuple[int, int]:
        r, k = divmod(position, self.round_size)
        return self._round(r)[k]

    def batch(self, step: int) -> list[tuple[int, int]]:
        """The (source, index) pairs of global batch `step` (0-based)."""
        return [self.at(step * self.batch_size + k) for k in range(self.batch_size)]


class MixedDataset:
    """Several sources of records with mixture ratios, encoded on demand by `encode_fn(record, source, key)`."""

    def __init__(self, sources: Sequence[Any], *, batch_size: int, seed: int, encode_fn,
                 length_fn=None, group_by_length: bool = False) -> None:
        self.sources = list(sources)
        self.records = [read_records(s.path) for s in self.sources]
        self.digests = {str(s.path): file_digest(s.path) for s in self.sources}
        self.encode_fn = encode_fn
        lengths = None
        if group_by_length and length_fn is not None:
            lengths = [[length_fn(r, s) for r in recs] for s, recs in zip(self.sources, self.records)]
        self.sampler = MixtureSampler([len(r) for r in self.records], [s.ratio for s in self.sources],
                                      batch_size=batch_size, seed=seed, lengths=lengths,
                                      group_by_length=group_by_length)

    def batch(self, step: int, *, rank: int = 0, world_size: int = 1) -> list[Any]:
        """This process's share (a contiguous slice) of global batch `step`, encoded."""
        picks = self.sampler.batch(step)
        if len(picks) % world_size:
            raise ValueError(f"the batch size {len(picks)} is not divisible by the {world_size} processes")
        per = len(picks) // world_size
        mine = picks[rank * per:(rank + 1) * per]
        return [self.encode_fn(self.records[s][i], self.sources[s], f"{s}:{i}") for s, i in mine]


def split_micro(items: Sequence[Any], micro: int) -> list[Sequence[Any]]:
    """Consecutive chunks of at most `micro` items (0 = one chunk)."""
    if micro <= 0 or micro >= len(items):
        return [items]
    return [items[k:k + micro] for k in range(0, len(items), micro)]


def target_text(record: Mapping[str, Any]) -> str:
    """The final assistant content of a record as text (for length estimates and reports)."""
    messages = record.get("messages") or []
    if messages and messages[-1].get("role") == "assistant" and isinstance(messages[-1].get("content"), str):
        return messages[-1]["content"] + EOT
    return ""
