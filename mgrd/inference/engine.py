"""The native generation engine: continuous batching, n samples each, paged KV cache, thinking budget, streaming.

Whether the reasoning is open when generation starts is read from the prompt's own tail: an
unclosed `<think>` in the last turn leaves it open (the official `<think>\n` prefill); a closed
block (the official no-think prefill `<think>\n\n</think>\n`) or none leaves it closed.
`thinking_budget` counts only reasoning tokens the engine generates: 0 on an open prompt appends
the closing `\n</think>\n` to the prompt; on a closed prompt every budget is moot.

It takes token ids and log-mel features, never strings, and returns per sample the generated ids,
their log-probabilities under the model, a mask of which tokens were sampled (False for tokens the
engine forced, such as the `</think>` that closes an exhausted thinking budget), and the finish
reason. Text (reasoning and answer apart) is decoded alongside for convenience and streaming.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass

import torch

from mgrd.chat import NO_THINK_PREFILL, THINK_CLOSE, THINK_OPEN, parse_completion
from mgrd.inference.batch import ContinuousBatch, Row
from mgrd.inference.decoder import FastDecoder
from mgrd.inference.kv import KVPool
from mgrd.inference.sampling import RowSampling, SamplingParams
from mgrd.inference.stream import Delta, Detokenizer, ReasoningSplitter

KV_BLOCK = 16
TAIL_TOKENS = 4096      # how far back the prompt's last turn is searched for an open <think>


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

    prompt_index: Hashable
    sample_index: int
    token_ids: list[int]
    reasoning: str = ""
    answer: str = ""
    finish_reason: str | None = None
    reasoning_tokens: int = 0           # reasoning tokens of the sample so far


class Engine:
    """Generates with an `AudioLM` and its tokenizer (used for stop ids and the `</think>` ids).

    `max_batch_size` rows decode together at most (a request with more samples runs alone);
    `kv_cache_tokens` caps the KV pool (None: each `generate`/`stream` call sizes its own pool
    for the rows it can run at once).
    """

    def __init__(self, model, tokenizer, *, max_batch_size: int = 32, kv_cache_tokens: int | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.kv_cache_tokens = kv_cache_tokens
        self.decoder = FastDecoder(model.model, model.lm_head, model.text_config)
        self.close_ids = tuple(tokenizer.encode(NO_THINK_PREFILL))
        special = tokenizer.special
        self.default_stop_ids = frozenset({special.eot, special.endoftext})
        self.pad_id = special.endoftext
        self._bot = special.bot
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
        for _, finished in self._drive(prompts, per_prompt, stream=False):
            for gen in finished:
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
        for events, _ in self._drive(prompts, per_prompt, stream=True, abort=abort):
            yield from events

    def continuous_batch(self, kv_cache_tokens: int, *, max_rows: int | None = None,
                         stream: bool = True) -> ContinuousBatch:
        """A batch over a fixed pool of `kv_cache_tokens` tokens, for a server that feeds it requests."""
        self.decoder.refresh()
        return ContinuousBatch(self, self.decoder.new_pool(kv_cache_tokens, block=KV_BLOCK),
                               max_rows=max_rows or self.max_batch_size, stream=stream)

    def prompt_ids(self, prompt: Prompt, params: SamplingParams) -> tuple[tuple[int, ...], bool]:
        """The ids to prefill and whether the reasoning is open after them (see the module docstring)."""
        ids = prompt.input_ids
        is_open = self.reasoning_open_after(ids)
        if is_open and params.thinking_budget == 0:
            return ids + self.close_ids, False
        return ids, is_open

    def reasoning_open_after(self, ids: Sequence[int]) -> bool:
        """True when the last turn of `ids` has a `<think>` after its last `</think>`."""
        tail = list(ids[-TAIL_TOKENS:])
        if self._bot in tail:
            tail = tail[len(tail) - 1 - tail[::-1].index(self._bot):]
        text = self.tokenizer.decode(tail)
        return text.rfind(THINK_OPEN) > text.rfind(THINK_CLOSE)

    # -- batching ----------------------------------------------------------------------------------
    @staticmethod
    def _params_list(prompts, params) -> list[SamplingParams]:
        if isinstance(params, SamplingParams):
            return [params] * len(prompts)
        params = list(params)
        if len(params) != len(prompts):
            raise ValueError(f"{len(params)} sampling params for {len(prompts)} prompts; give one or one each")
        return params

    def _drive(self, prompts, per_prompt, *, stream: bool, abort=None) -> Iterator[tuple[list, list]]:
        """Run every prompt through one continuous batch; (events, finished) per step."""
        if not prompts:
            return
        self.decoder.refresh()  # the model may have been trained since the last call
        batch = ContinuousBatch(self, self._pool_for(prompts, per_prompt), max_rows=self.max_batch_size,
                                stream=stream)
        pending = deque(range(len(prompts)))
        while pending or not batch.idle:
            while pending and batch.add(pending[0], prompts[pending[0]], per_prompt[pending[0]]):
                pending.popleft()
            if batch.idle:
                raise RuntimeError(f"prompt {pending[0]} needs more KV memory than the pool of "
                                   f"{batch.pool.capacity_tokens} tokens holds")
            yield batch.step(abort)

    def _pool_for(self, prompts, per_prompt) -> KVPool:
        """A pool for the rows that can run at once (in order, up to max_batch_size rows), capped by
        `kv_cache_tokens`."""
        blocks = lambda p, q: q.n * -(-(len(self.prompt_ids(p, q)[0]) + q.max_tokens) // KV_BLOCK)
        sizes = [blocks(p, q) for p, q in zip(prompts, per_prompt)]
        rows = total = 0
        for (p, q), size in zip(zip(prompts, per_prompt), sizes):
            if rows and rows + q.n > self.max_batch_size:
                break
            rows, total = rows + q.n, total + size
        tokens = (max(total, max(sizes)) + 1) * KV_BLOCK
        if self.kv_cache_tokens is not None:
            if max(sizes) * KV_BLOCK > self.kv_cache_tokens:
                raise ValueError(f"a request needs {max(sizes) * KV_BLOCK} KV tokens; the engine's budget is "
                                 f"{self.kv_cache_tokens} (kv_cache_tokens)")
            tokens = min(tokens, self.kv_cache_tokens)
        return self.decoder.new_pool(tokens, block=KV_BLOCK)

    # -- the model -----------------------------------------------------------------------------------
    def prefill(self, ids, prompt: Prompt, pool: KVPool, slots: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            # Each prompt's audio chunks are encoded together, apart from other prompts', so a
            # prompt's features never depend on what else shares the batch.
            first = self.model.model.embed_tokens.weight.device
            embeds = self.model.embed(torch.tensor([list(ids)], device=first), list(prompt.audio_mels) or None)
            return self.decoder.prefill(embeds, pool, slots)

    def decode_step(self, tokens: torch.Tensor, pool: KVPool, table: torch.Tensor,
                    lengths: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.decoder.decode(self.decoder.embed(tokens.unsqueeze(1)), pool, table, lengths)

    # -- rows ----------------------------------------------------------------------------------------
    def new_row(self, key: Hashable, sample: int, params: SamplingParams, reasoning_open: bool,
                stream: bool) -> Row:
        gen = None
        if not params.greedy:
            gen = torch.Generator()
            if params.seed is None:
                gen.seed()
            else:
                gen.manual_seed((params.seed * 1_000_003 + sample) % 2**63)
        row = Row(key, sample, params, RowSampling(params.temperature, params.top_k, params.top_p, gen),
                  self.default_stop_ids | frozenset(params.stop_token_ids), reasoning_open=reasoning_open,
                  prompt_open=reasoning_open)
        if stream or params.stop:
            row.detok = Detokenizer(self.tokenizer)
            row.splitter = ReasoningSplitter(params.stop, reasoning_open=reasoning_open)
        return row

    def _piece(self, token_id: int) -> str:
        piece = self._pieces.get(token_id)
        if piece is None:
            piece = self._pieces[token_id] = self.tokenizer.decode([token_id])
        return piece

    def advance(self, r: Row, token: int, logprob: float) -> StreamEvent | None:
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
        if r.finish is not None:
            end = self._flush(r)
            delta = Delta(delta.reasoning + end.reasoning, delta.answer + end.answer)
        if r.detok is None:
            return None
        return StreamEvent(r.key, r.sample_index, [token], delta.reasoning, delta.answer, r.finish,
                           r.reasoning_tokens)

    @staticmethod
    def _flush(r: Row) -> Delta:
        """Text held back by the detokenizer and the splitter, at the end of a row."""
        if r.splitter is None or r.splitter.stopped:
            return Delta()
        tail = r.splitter.feed(r.detok.flush())
        end = r.splitter.finish()
        return Delta(tail.reasoning + end.reasoning, tail.answer + end.answer)

    def final_event(self, r: Row) -> StreamEvent:
        """The last event of a row ended from outside (no token): held text and its finish reason."""
        end = self._flush(r)
        return StreamEvent(r.key, r.sample_index, [], end.reasoning, end.answer, r.finish, r.reasoning_tokens)

    def finished(self, r: Row) -> Generation:
        body = r.tokens[:-1] if r.finish == "stop" and r.tokens and r.tokens[-1] in r.stop_ids else r.tokens
        text = self.tokenizer.decode(body)
        if r.params.stop:
            cut = min((i for i in (text.find(s) for s in r.params.stop) if i >= 0), default=len(text))
            text = text[:cut]
        parsed = parse_completion(text if r.prompt_open else "\n" + THINK_CLOSE + "\n" + text)
        return Generation(r.key, r.sample_index, r.tokens, r.logprobs, r.sampled, r.finish,
                          r.reasoning_tokens, text, parsed.reasoning, parsed.answer, parsed.well_formed)
