"""BatchWorker: one thread that feeds queued requests to the synchronous engine, a batch at a time.

Requests wait in a bounded queue; the worker takes up to `max_batch` of them, runs
`Engine.stream` over the batch with each request's own SamplingParams, and hands every event
back to the asyncio side through the request's `asyncio.Queue` (`loop.call_soon_threadsafe`).
A request whose client went away is marked cancelled; the engine's abort hook then ends its
rows at the next step. An exception in the engine fails that batch's requests and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from mgrd.inference import Prompt, SamplingParams

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue holds `max_queue` waiting requests already."""


class Done:
    """The last item of a job's event queue: every sample has finished."""


@dataclass
class Failed:
    """The last item of a job's event queue when generation raised."""

    message: str = "internal error during generation"


@dataclass
class Job:
    """One request in the worker: its prompt and parameters, and where its events go."""

    prompt: Prompt
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()

    def emit(self, item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, item)
        except RuntimeError:
            self.cancel()  # the event loop is closed: nobody is listening any more


class BatchWorker:
    """Runs `engine.stream` over batches of up to `max_batch` jobs; at most `max_queue` jobs wait."""

    def __init__(self, engine, *, max_batch: int = 8, max_queue: int = 64) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.tokens_generated = 0       # all tokens the engine produced, for monitoring and tests
        self.batches_run = 0

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="mgrd-batch-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Abort everything, let the thread finish its current step and exit."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.abort_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the asyncio side -------------------------------------------------------------------------
    def submit(self, prompt: Prompt, params: SamplingParams, loop: asyncio.AbstractEventLoop) -> Job:
        """Queue a job; raises QueueFull when `max_queue` jobs are already waiting."""
        job = Job(prompt, params, loop)
        with self._cond:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if len(self._waiting) >= self.max_queue:
                raise QueueFull(f"{len(self._waiting)} requests are waiting already")
            self._waiting.append(job)
            self._cond.notify_all()
        return job

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)

    def is_full(self) -> bool:
        return self.waiting >= self.max_queue

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job waits or runs (True), or `timeout` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._waiting and not self._running, timeout)

    def abort_all(self) -> None:
        """End every waiting and running job: running rows stop with finish_reason "abort"."""
        with self._cond:
            jobs = list(self._waiting) + list(self._running)
        for job in jobs:
            job.cancel()

    # -- the worker thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting or self._stopping)
                if self._stopping and not self._waiting:
                    return
                batch = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
                self._running = batch
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._running = []
                    self._cond.notify_all()

    def _run(self, batch: list[Job]) -> None:
        live = [job for job in batch if not job.cancelled.is_set()]
        for job in batch:
            if job.cancelled.is_set():
                job.emit(Done())
        if not live:
            return
        self.batches_run += 1
        try:
            events = self.engine.stream([j.prompt for j in live], [j.params for j in live],
                                        abort=lambda i: live[i].cancelled.is_set())
            for event in events:
                self.tokens_generated += len(event.token_ids)
                live[event.prompt_index].emit(event)
        except Exception:
            # Logged here, on the server only; the clients get a generic 500 message.
            log.exception("generation failed for a batch of %d requests", len(live))
            for job in live:
                job.emit(Failed())
            return
        for job in live:
            job.emit(Done())
