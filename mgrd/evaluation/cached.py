"""A backend whose results are kept on disk: a rerun of a killed stage sends only what is missing.

Each request is keyed by what determines its result — the backend's model identity, the prompt
(audio by the sha256 of its bytes), the item and the sampling settings with the seed — not by the
caller's request key, so a result is reused only for the same question asked the same way of the
same model. Only successful results are kept (a failed request is sent again). The evaluation
runner keeps its own store of the same kind; this one serves the fixed-policy training stages
(self-distillation, curation, self-cognition sampling), whether native or on an endpoint.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Iterator

from mgrd.evaluation.identity import prompt_hash
from mgrd.inference.backend import Backend, GenerationRequest, GenerationResult
from mgrd.remote.store import RecordStore, stable_hash

_RESULT_FIELDS = {f.name for f in dataclasses.fields(GenerationResult)}


class CachedBackend:
    """`backend` with a result store at `root` (one JSON file per result, written atomically)."""

    def __init__(self, backend: Backend, root: str | os.PathLike) -> None:
        self.backend = backend
        self.store = RecordStore(root)
        self.hits = 0
        self.sent = 0

    def identity(self) -> dict:
        return self.backend.identity()

    def content_key(self, request: GenerationRequest, model: dict) -> str:
        return stable_hash({"model": model, "item": request.item_id, "prompt": prompt_hash(request.messages),
                            "sampling": dict(request.sampling)})

    def run(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        """Stored results first (under the caller's keys), then the backend's for the rest, each
        stored as it arrives."""
        model = self.backend.identity()
        waiting: dict[str, list[str]] = {}   # content key -> the caller's keys asking it
        todo: list[GenerationRequest] = []
        for request in requests:
            key = self.content_key(request, model)
            stored = self.store.get(key)
            if stored is not None and stored.get("status") == "ok":
                self.hits += 1
                yield _result(stored, request.key)
                continue
            if key not in waiting:
                todo.append(dataclasses.replace(request, key=key))
            waiting.setdefault(key, []).append(request.key)
        for result in self.backend.run(todo):
            self.sent += 1
            if result.status == "ok":
                self.store.put({**result.to_dict(), "created": time.time()})
            for caller_key in waiting.get(result.key, ()):
                yield dataclasses.replace(result, key=caller_key)

    def close(self) -> None:
        self.backend.close()


def _result(stored: dict, key: str) -> GenerationResult:
    return GenerationResult(**{**{k: v for k, v in stored.items() if k in _RESULT_FIELDS}, "key": key})
