"""A local checkpoint as a model: the native engine, each prompt built once, large batches, per-item seeds.

Prompts are built by `build_prompt` (audio decoded, chunked at 25 s and log-mel'd) once per distinct
message list, however many budgets and seeds ask it. Every request of a window of prompts, all
budgets and seeds together, goes through one `engine.generate` call (the engine takes settings per
prompt), which decodes `engine.max_batch_size` sequences at a time: rows sorted by prompt length, so
a batch pads little, and a batch holds more rows than one budget's items alone would fill. Every
request samples with the seed it carries (the evaluation runner and `mgrd.inference.backend.sample`
give each item its own), so what shares a batch never changes a sample. Prompts are held a window
at a time, so memory stays bounded on large benchmarks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from mgrd.evaluation.identity import checkpoint_identity
from mgrd.inference.backend import GenerationRequest, GenerationResult, failed


class NativeBackend:
    """Generates with an `Engine`; `window` distinct prompts are built and held at a time (results of a
    window are stored when its engine call ends, so a killed run loses at most one window).

    Latency per record is its generate call's wall time divided by the call's size.
    """

    def __init__(self, engine, identity: dict, *, window: int = 64) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.engine, self._identity, self.window = engine, dict(identity), window

    @classmethod
    def from_checkpoint(cls, model_dir: str | Path, *, dtype: str = "float32", device: str = "auto",
                        batch_size: int = 32, quantize: str | None = None, device_map: str | None = None,
                        full_hash: bool = False) -> "NativeBackend":
        """The checkpoint in `model_dir` on an engine that decodes `batch_size` sequences at once.

        `full_hash`: the cache identity hashes every byte of the weights (default: their headers,
        sizes and modification times)."""
        from mgrd.chat import Tokenizer
        from mgrd.inference import Engine
        from mgrd.inference.placement import prepare
        from mgrd.model import load_pretrained
        from mgrd.runtime import resolve_device, resolve_dtype

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        model_dir = Path(model_dir)
        identity = checkpoint_identity(model_dir, full_hash=full_hash)
        tokenizer = Tokenizer.from_dir(model_dir)
        model = load_pretrained(model_dir, dtype=resolve_dtype(dtype), device=resolve_device(device),
                                tokenizer_special_ids=tokenizer.special)
        model = prepare(model, quantize_mode=quantize, device_map=device_map)
        # Quantised weights give other outputs: they key the cache (placement does not).
        extra = {"quantize": quantize} if quantize else {}
        return cls(Engine(model, tokenizer, max_batch_size=batch_size), {**identity, "dtype": dtype, **extra})

    def identity(self) -> dict:
        return dict(self._identity)

    def run(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        by_prompt: dict[str, list[GenerationRequest]] = {}
        for request in requests:
            by_prompt.setdefault(_prompt_key(request.messages), []).append(request)
        keys = list(by_prompt)
        for start in range(0, len(keys), self.window):
            yield from self._window({k: by_prompt[k] for k in keys[start:start + self.window]})

    def _window(self, by_prompt: Mapping[str, list[GenerationRequest]]) -> Iterator[GenerationResult]:
        from mgrd.audio import AudioError
        from mgrd.inference import build_prompt

        members = []
        for requests in by_prompt.values():
            try:
                prompt = build_prompt(requests[0].messages, self.engine.tokenizer)
            except (AudioError, OSError, ValueError) as e:
                yield from (failed(r.key, f"{type(e).__name__}: {e}") for r in requests)
                continue
            members += [(r, prompt) for r in requests]
        # Similar lengths share a batch: its prefill pads every row to the longest prompt.
        members.sort(key=lambda m: len(m[1].input_ids))
        yield from self._generate(members)

    def _generate(self, members: list) -> Iterator[GenerationResult]:
        """One engine call over every (request, prompt) given, each with its own sampling params."""
        ready, params = [], []
        for request, prompt in members:
            try:
                params.append(_params(request))
            except (ValueError, TypeError, KeyError) as e:
                yield failed(request.key, f"bad sampling settings: {e}")
                continue
            ready.append((request, prompt))
        if not ready:
            return
        start = time.perf_counter()
        generations = self.engine.generate([p for _, p in ready], params)
        latency = (time.perf_counter() - start) / len(ready)
        for (request, prompt), (gen,) in zip(ready, generations):
            yield GenerationResult(
                key=request.key, status="ok", text=gen.text, reasoning=gen.reasoning, answer=gen.answer,
                well_formed=gen.well_formed, finish_reason=gen.finish_reason, completion_tokens=len(gen.token_ids),
                reasoning_tokens=gen.num_reasoning_tokens, prompt_tokens=len(prompt.input_ids),
                latency_s=latency)

    def close(self) -> None:
        self.engine = None


def _prompt_key(messages: list) -> str:
    return json.dumps(messages, sort_keys=True, default=str)


def _params(request: GenerationRequest):
    """The engine's sampling params of one request, with the request's own seed."""
    from mgrd.inference import SamplingParams

    s = request.sampling
    seed = s.get("seed")
    return SamplingParams(max_tokens=int(s["max_tokens"]), temperature=float(s["temperature"]),
                          top_p=float(s["top_p"]), repetition_penalty=float(s.get("repetition_penalty") or 1.0),
                          seed=None if seed is None else int(seed),
                          thinking_budget=s.get("thinking_budget"))
