"""A local checkpoint as a model: the native engine, prompts built (and audio chunked at 25 s) by
`build_prompt`, thinking budgets by the engine's budget forcing."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from mgrd.evaluation.identity import checkpoint_identity
from mgrd.evaluation.request import GenerationRequest, GenerationResult, failed


class NativeBackend:
    """Generates with an `Engine` in batches of requests that share sampling settings.

    Latency per record is the batch's wall time divided by its size.
    """

    def __init__(self, engine, identity: dict, *, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.engine, self._identity, self.batch_size = engine, dict(identity), batch_size

    @classmethod
    def from_checkpoint(cls, model_dir: str | Path, *, dtype: str = "float32", device: str = "auto",
                        batch_size: int = 8) -> "NativeBackend":
        from mgrd.chat import Tokenizer
        from mgrd.inference import Engine
        from mgrd.model import load_pretrained
        from mgrd.runtime import resolve_device, resolve_dtype

        model_dir = Path(model_dir)
        identity = checkpoint_identity(model_dir)
        tokenizer = Tokenizer.from_dir(model_dir)
        model = load_pretrained(model_dir, dtype=resolve_dtype(dtype), device=resolve_device(device),
                                tokenizer_special_ids=tokenizer.special)
        return cls(Engine(model, tokenizer), {**identity, "dtype": dtype}, batch_size=batch_size)

    def identity(self) -> dict:
        return dict(self._identity)

    def _params(self, sampling):
        from mgrd.inference import SamplingParams

        return SamplingParams(max_tokens=int(sampling["max_tokens"]), temperature=float(sampling["temperature"]),
                              top_p=float(sampling["top_p"]),
                              repetition_penalty=float(sampling.get("repetition_penalty") or 1.0),
                              seed=sampling.get("seed"), thinking_budget=sampling.get("thinking_budget"))

    def run(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        batch: list[GenerationRequest] = []
        for request in requests:
            if batch and (len(batch) == self.batch_size or request.sampling != batch[0].sampling):
                yield from self._batch(batch)
                batch = []
            batch.append(request)
        if batch:
            yield from self._batch(batch)

    def _batch(self, batch: list[GenerationRequest]) -> Iterator[GenerationResult]:
        from mgrd.audio import AudioError
        from mgrd.inference import build_prompt

        start = time.perf_counter()
        try:
            params = self._params(batch[0].sampling)
        except ValueError as e:
            yield from (failed(r.key, f"bad sampling settings: {e}") for r in batch)
            return
        prompts, ready = [], []
        for request in batch:
            try:
                prompts.append(build_prompt(request.messages, self.engine.tokenizer))
                ready.append(request)
            except (AudioError, OSError, ValueError) as e:
                yield failed(request.key, f"{type(e).__name__}: {e}")
        if not prompts:
            return
        generations = self.engine.generate(prompts, params)
        latency = (time.perf_counter() - start) / len(prompts)
        for request, prompt, (gen,) in zip(ready, prompts, generations):
            yield GenerationResult(
                key=request.key, status="ok", text=gen.text, reasoning=gen.reasoning, answer=gen.answer,
                well_formed=gen.well_formed, finish_reason=gen.finish_reason, completion_tokens=len(gen.token_ids),
                reasoning_tokens=gen.num_reasoning_tokens, prompt_tokens=len(prompt.input_ids),
                latency_s=latency)

    def close(self) -> None:
        self.engine = None
