"""The native generation engine: batched prompts, n samples each, KV cache, thinking budget, streaming.

It takes token ids and log-mel features, never strings, and returns per sample the generated ids,
their log-probabilities under the model, a mask of which tokens were sampled (False for tokens the
engine forced, such as the `</think>` that closes an exhausted thinking budget), and the finish
reason. Text (reasoning and answer apart) is decoded alongside for convenience and streaming.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from mgrd.chat import NO_THINK_PREFILL, THINK_CLOSE, parse_completion
from mgrd.inference.decoder import FastDecoder
from mgrd.inference.sampling import RowSampling, SamplingParams, apply_repetition_penalty, sample_rows
from mgrd.inference.stream import Delta, Detokenizer, ReasoningSplitter


@dataclass(frozen=True)
class Prompt:
    """One prompt: its token ids and the log-mel chunks `[128, T_i]` of its audio, in prompt order."""

    input_ids: tuple[int, ...]
    audio_mels: tuple[torch.Tensor, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_ids", tuple(int(i) for i in self.input_ids))
        object.__setattr__(self, "audio_mels", tuple(self.audio_mels))
        if not self.input_ids:
            raise ValueError("a prompt needs at least one token")


@dataclass
class Generation:
    """One finished sample."""

    prompt_index: int
    sample_index: int
    token_ids: list[int]
    logprobs: list[float]
    sampled_mask: list[bool]
    finish_reason: str                  # "stop" (stop token or string), "length" or "abort"
    num_reasoning_tokens: int
    text: str = ""                      # generated text, stop token excluded
    reasoning: str = ""
    answer: str = ""
    well_formed: bool = False


@dataclass
class StreamEvent:
    """What one sample produced at one step; `finish_reason` is set on its last event only."""

    prompt_index: int
    sample_index: int
    token_ids: list[int]
    reasoning: str = ""
    answer: str = ""
    finish_reason: str | None = None
    reasoning_tokens: int = 0           # reasoning tokens of the sample so far


@dataclass
class _Row:
    prompt_index: int
    sample_index: int
    params: SamplingParams
    sampling: RowSampling
    stop_ids: frozenset[int]
    reasoning_open: bool
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    sampled: list[bool] = field(default_factory=list)
    forced: deque = field(default_factory=deque)
    reasoning_tokens: int = 0
    tail: str = ""
    finish: str | None = None
    detok: Detokenizer | None = None
    splitter: ReasoningSplitter | None = None


class Engine:
    """Generates with an `AudioLM` and its tokenizer (used for stop ids and the `</think>` ids)."""

    def __init__(self, model, tokenizer, *, max_batch_size: int = 32) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.decoder = FastDecoder(model.model, model.lm_head, model.text_config)
        self.close_ids = tuple(tokenizer.encode(NO_THINK_PREFILL))
        special = tokenizer.special
        self.default_stop_ids = frozenset({special.eot, special.endoftext})
        self.pad_id = special.endoftext
        self._pieces: dict[int, str] = {}

    @property
    def device(self) -> torch.device:
        return self.model.lm_head.weight.device

    # -- public API --------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt],
                 params: SamplingParams | Sequence[SamplingParams] = SamplingParams()) -> list[list[Generation]]:
        """`params.n` samples for each prompt: `result[prompt][sample]`."""
        per_prompt = self._params_list(prompts, params)
        results: list[list[Generation | None]] = [[None] * p.n for p in per_prompt]
        for start in range(0, len(prompts), self._prompts_per_batch(per_prompt)):
            stop = start + self._prompts_per_batch(per_prompt)
            for gen in self._run(prompts[start:stop], per_prompt[start:stop], start, stream=False):
                results[gen.prompt_index][gen.sample_index] = gen
        return results  # type: ignore[return-value]

    def stream(self, prompts: Sequence[Prompt],
               params: SamplingParams | Sequence[SamplingParams] = SamplingParams(), *,
               abort: Callable[[int], bool] | None = None) -> Iterator[StreamEvent]:
        """Events as tokens are generated; reasoning and answer text arrive separately.

        `abort(prompt_index)` is asked once per step for each unfinished sample; when it says
        True, that sample ends at once with finish_reason "abort" (a server aborts the
        generation of a client that went away).
        """
        per_prompt = self._params_list(prompts, params)
        step = self._prompts_per_batch(per_prompt)
        for start in range(0, len(prompts), step):
            yield from self._run(prompts[start:start + step], per_prompt[start:start + step], start,
                                 stream=True, abort=abort)

    # -- batching ----------------------------------------------------------------------------------
    @staticmethod
    def _params_list(prompts, params) -> list[SamplingParams]:
        if isinstance(params, SamplingParams):
            return [params] * len(prompts)
        params = list(params)
        if len(params) != len(prompts):
            raise ValueError(f"{len(params)} sampling params for {len(prompts)} prompts; give one or one each")
        return params

    def _prompts_per_batch(self, per_prompt: list[SamplingParams]) -> int:
        most = max((p.n for p in per_prompt), default=1)
        return max(1, self.max_batch_size // most)

    def _new_row(self, index: int, sample: int, params: SamplingParams, stream: bool) -> _Row:
        gen = None
        if not params.greedy:
            gen = torch.Generator()
            if params.seed is None:
                gen.seed()
            else:
                gen.manual_seed((params.seed * 1_000_003 + sample) % 2**63)
        row = _Row(index, sample, params, RowSampling(params.temperature, params.top_k, params.top_p, gen),
                   self.default_stop_ids | frozenset(params.stop_token_ids),
                   reasoning_open=params.thinking_budget != 0)
        if stream or params.stop:
            row.detok = Detokenizer(self.tokenizer)
            row.splitter = ReasoningSplitter(params.stop, reasoning_open=row.reasoning_open)
        return row

    def _prefill(self, prompts: Sequence[Prompt], per_prompt: list[SamplingParams]):
        ids = [list(p.input_ids) + (list(self.close_ids) if q.thinking_budget == 0 else [])
               for p, q in zip(prompts, per_prompt)]
        width = max(len(i) for i in ids)
        pad = torch.tensor([width - len(i) for i in ids], device=self.device)
        capacity = width + max(q.max_tokens for q in per_prompt) + len(self.close_ids) + 1
        cache = self.decoder.new_cache(len(ids), capacity)
        with torch.inference_mode():
            # Each prompt's audio chunks are encoded together, apart from other prompts', so a
            # prompt's features never depend on what else shares the batch.
            rows = [self.model.embed(torch.tensor([i], device=self.device), list(p.audio_mels) or None)[0]
                    for i, p in zip(ids, prompts)]
            embeds = torch.zeros(len(rows), width, rows[0].shape[-1], dtype=rows[0].dtype, device=self.device)
            for b, row in enumerate(rows):
                embeds[b, width - row.shape[0]:] = row
            logits = self.decoder.forward(embeds, cache, pad)
        return ids, pad, cache, logits

    # -- the loop ----------------------------------------------------------------------------------
    def _run(self, prompts, per_prompt, offset: int, *, stream: bool, abort=None) -> Iterator:
        self.decoder.refresh()  # the model may have been trained since the last call
        ids, pad, cache, logits = self._prefill(prompts, per_prompt)
        expand = torch.tensor([i for i, q in enumerate(per_prompt) for _ in range(q.n)], device=self.device)
        rows = [self._new_row(offset + i, s, q, stream) for i, q in enumerate(per_prompt) for s in range(q.n)]
        if len(rows) != len(prompts):
            cache, pad, logits = cache.select(expand), pad[expand], logits[expand]
        seen = self._seen_tokens(ids, expand, per_prompt, logits.shape[-1])
        penalty = torch.tensor([r.params.repetition_penalty for r in rows], device=self.device)
        active = list(range(len(rows)))
        while active:
            live = [rows[i] for i in active]
            if seen is not None:
                logits = apply_repetition_penalty(logits, seen, penalty)
            log_norm = torch.logsumexp(logits, dim=-1)
            chosen = sample_rows(logits, [r.sampling for r in live]).tolist()
            for j, r in enumerate(live):
                if r.forced:
                    chosen[j] = r.forced.popleft()
                    r.sampled.append(False)
                else:
                    r.sampled.append(True)
            token_tensor = torch.tensor(chosen, device=self.device)
            picked = (logits.gather(1, token_tensor.unsqueeze(1)).squeeze(1) - log_norm).tolist()
            if seen is not None:
                seen.scatter_(1, token_tensor.unsqueeze(1), True)
            keep = []
            for j, r in enumerate(live):
                event = self._advance(r, chosen[j], picked[j])
                if r.finish is None and abort is not None and abort(r.prompt_index):
                    r.finish = "abort"
                    if event is not None:
                        event.finish_reason = "abort"
                if stream and event is not None:
                    yield event
                if r.finish is None:
                    keep.append(j)
                elif not stream:
                    yield self._finished(r)
            if not keep:
                break
            if len(keep) != len(live):
                sel = torch.tensor(keep, device=self.device)
                cache, pad, penalty = cache.select(sel), pad[sel], penalty[sel]
                token_tensor = token_tensor[sel]
                seen = seen[sel] if seen is not None else None
                active = [active[j] for j in keep]
            with torch.inference_mode():
                logits = self.decoder.forward(self.decoder.embed(token_tensor.unsqueeze(1)), cache, pad)

    def _seen_tokens(self, ids, expand, per_prompt, vocab: int) -> torch.Tensor | None:
        if all(q.repetition_penalty == 1.0 for q in per_prompt):
            return None
        seen = torch.zeros(len(ids), vocab, dtype=torch.bool, device=self.device)
        for i, prompt_ids in enumerate(ids):
            seen[i, torch.tensor(prompt_ids, device=self.device).clamp(max=vocab - 1)] = True
        return seen[expand]

    def _piece(self, token_id: int) -> str:
        piece = self._pieces.get(token_id)
        if piece is None:
            piece = self._pieces[token_id] = self.tokenizer.decode([token_id])
        return piece

    def _advance(self, r: _Row, token: int, logprob: float) -> StreamEvent | None:
        """Record one token of row r; update reasoning state, budget and finish; the stream event."""
        r.tokens.append(token)
        r.logprobs.append(logprob)
        budget = r.params.thinking_budget
        if r.reasoning_open:
            r.tail = (r.tail + self._piece(token))[-2 * len(THINK_CLOSE):]
            if THINK_CLOSE in r.tail:
                r.reasoning_open = False
            else:
                r.reasoning_tokens += 1
                if budget is not None and r.reasoning_tokens >= budget and not r.forced:
                    r.forced.extend(self.close_ids)
                    r.reasoning_open = False
        delta = Delta()
        if token in r.stop_ids:
            r.finish = "stop"
        elif r.detok is not None:
            delta = r.splitter.feed(r.detok.push(token))
            if r.splitter.stopped:
                r.finish = "stop"
        if r.finish is None and len(r.tokens) >= r.params.max_tokens:
            r.finish = "length"
        if r.finish is not None and r.splitter is not None and not r.splitter.stopped:
            tail = r.splitter.feed(r.detok.flush())
            delta = Delta(delta.reasoning + tail.reasoning, delta.answer + tail.answer)
            end = r.splitter.finish()
            delta = Delta(delta.reasoning + end.reasoning, delta.answer + end.answer)
        if r.detok is None:
            return None
        return StreamEvent(r.prompt_index, r.sample_index, [token], delta.reasoning, delta.answer, r.finish,
                           r.reasoning_tokens)

    def _finished(self, r: _Row) -> Generation:
        body = r.tokens[:-1] if r.finish == "stop" and r.tokens[-1] in r.stop_ids else r.tokens
        text = self.tokenizer.decode(body)
        if r.params.stop:
            cut = min((i for i in (text.find(s) for s in r.params.stop) if i >= 0), default=len(text))
            text = text[:cut]
        parsed = parse_completion(text if r.params.thinking_budget != 0 else "\n" + THINK_CLOSE + "\n" + text)
        return Generation(r.prompt_index, r.sample_index, r.tokens, r.logprobs, r.sampled, r.finish,
                          r.reasoning_tokens, text, parsed.reasoning, parsed.answer, parsed.well_formed)
