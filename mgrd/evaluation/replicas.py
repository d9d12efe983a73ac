"""Several servers of one model as one backend: requests dealt round-robin, run concurrently."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence

from mgrd.inference.backend import Backend, GenerationRequest, GenerationResult, failed

_DONE = object()


class Replicas:
    """Data-parallel replicas (for example one server per GPU): request i goes to replica i mod R, and
    every replica streams its share at the same time; results arrive in completion order.

    The replicas must serve the same model with the same settings: the identity is the first one's,
    with the list of replicas beside it (which server answered does not change what is asked).
    """

    def __init__(self, backends: Sequence[Backend]) -> None:
        if not backends:
            raise ValueError("Replicas needs at least one backend")
        self.backends = list(backends)

    def identity(self) -> dict:
        first = self.backends[0].identity()
        return {**first, "replicas": len(self.backends)} if len(self.backends) > 1 else first

    def run(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        if len(self.backends) == 1:
            yield from self.backends[0].run(requests)
            return
        shares: list[list[GenerationRequest]] = [[] for _ in self.backends]
        for i, request in enumerate(requests):
            shares[i % len(self.backends)].append(request)
        results: queue.Queue = queue.Queue()

        def drain(backend: Backend, share: list[GenerationRequest]) -> None:
            answered: set[str] = set()
            try:
                for result in backend.run(share):
                    answered.add(result.key)
                    results.put(result)
            except Exception as e:  # a replica that breaks fails its own share only
                for request in share:
                    if request.key not in answered:
                        results.put(failed(request.key, f"replica failed: {type(e).__name__}: {e}"))
            finally:
                results.put(_DONE)

        workers = [threading.Thread(target=drain, args=(b, s), daemon=True, name=f"mgrd-replica-{i}")
                   for i, (b, s) in enumerate(zip(self.backends, shares)) if s]
        for w in workers:
            w.start()
        open_workers = len(workers)
        while open_workers:
            item = results.get()
            if item is _DONE:
                open_workers -= 1
            else:
                yield item

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
