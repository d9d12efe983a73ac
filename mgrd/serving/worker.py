"""BatchWorker: one thread that runs the engine's continuous batch and feeds it queued requests.

Requests wait in a bounded FIFO queue. Before every decode step the worker admits waiting
requests, in order, while the batch has room: at most `max_batch` requests, and KV blocks for
each of their n samples (prompt + max_tokens, reserved on admission). A request leaves the batch
when its last sample finishes and its blocks go back to the pool. Events go back to the asyncio
side through the request's `asyncio.Queue` (`loop.call_soon_threadsafe`).

A request whose client went away is marked cancelled; its rows end at the next step. Every
sample of every request ends with exactly one event carrying its finish_reason ("abort" for a
request cancelled while still waiting, or cut short by a drain). An exception in the engine fails
the requests in the batch at that moment and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from mgrd.inference import Prompt, SamplingParams, StreamEvent

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
    finished: set[int] = field(default_factory=set)     # samples whose finish event was sent

    def cancel(self) -> None:
        self.cancelled.set()

    def emit(self, item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, item)
        except RuntimeError:
            self.cancel()  # the event loop is closed: nobody is listening any more


class BatchWorker:
    """Runs `engine.continuous_batch(kv_cache_tokens)`; at most `max_batch` requests in it, `max_queue` waiting."""

    def __init__(self, engine, *, max_batch: int = 8, max_queue: int = 64, kv_cache_tokens: int = 1 << 16,
                 max_prefill_tokens: int = 512) -> None:
        self.engine = engine
        self.max_prefill_tokens = max_prefill_tokens
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.kv_cache_tokens = kv_cache_tokens
        self._waiting: deque[Job] = deque()
        self._running: dict[int, Job] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._batch = None
        self._next_key = 0
        self.tokens_generated = 0       # all tokens the engine produced, for monitoring and tests
        self.steps_run = 0

    @property
    def batch(self):
        """The continuous batch (made on first use: it allocates the KV pool)."""
        if self._batch is None:
            self._batch = self.engine.continuous_batch(self.kv_cache_tokens)
        return self._batch

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.batch  # noqa: B018 (the pool is allocated here, before any request needs it)
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
        """End every waiting and running job: each unfinished sample ends with finish_reason "abort"."""
        with self._cond:
            jobs = list(self._waiting) + list(self._running.values())
            self._cond.notify_all()
        for job in jobs:
            job.cancel()

    # -- the worker thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting or self._running or self._stopping)
                if self._stopping and not self._waiting and not self._running:
                    return
            try:
                self._admit()
                if self._running:
                    self._step()
            except Exception:
                # Logged here, on the server only; the clients get a generic 500 message.
                log.exception("generation failed for a batch of %d requests", len(self._running))
                self._fail_running()

    def _admit(self) -> None:
        """Move waiting jobs into the batch, in order, while they fit (prefill happens here).

        A job counts as running from the moment its admission starts. Once `max_prefill_tokens`
        prompt tokens were prefilled, the rest wait for the next step, so that the running rows
        (and the requests just admitted) get their next token meanwhile."""
        prefilled = 0
        while prefilled < self.max_prefill_tokens:
            with self._cond:
                if not self._waiting:
                    return
                job = self._waiting[0]
                if job.cancelled.is_set():
                    self._waiting.popleft()
                    self._end(job)
                    continue
                if len(self._running) >= self.max_batch:
                    return
                key, self._next_key = self._next_key, self._next_key + 1
                self._running[key] = self._waiting.popleft()
            try:
                added = self.batch.add(key, job.prompt, job.params)
            except Exception:
                log.exception("prefill failed for a request")
                added = None
            if added:
                prefilled += len(job.prompt.input_ids)
                continue
            with self._cond:
                del self._running[key]
                if added is False and not self.batch.idle:
                    self._waiting.appendleft(job)  # it waits until running requests free their KV blocks
                    return
                self._cond.notify_all()
            job.emit(Failed() if added is None else Failed("the request needs more KV memory than this "
                                                            "server's whole budget"))

    def _step(self) -> None:
        events, _ = self.batch.step(lambda key: self._running[key].cancelled.is_set())
        self.steps_run += 1
        for event in events:
            self.tokens_generated += len(event.token_ids)
            job = self._running[event.prompt_index]
            job.emit(event)
            if event.finish_reason is not None:
                job.finished.add(event.sample_index)
                if len(job.finished) == job.params.n:
                    with self._cond:
                        del self._running[event.prompt_index]
                        self._cond.notify_all()
                    job.emit(Done())

    def _end(self, job: Job) -> None:
        """A job that leaves without running: one "abort" finish per sample, then Done (lock held)."""
        for s in range(job.params.n):
            job.emit(StreamEvent(0, s, [], finish_reason="abort"))
        job.emit(Done())
        self._cond.notify_all()

    def _fail_running(self) -> None:
        with self._cond:
            jobs = list(self._running.values())
            self._running.clear()
            self._cond.notify_all()
        try:
            if self._batch is not None:
                self._batch.abort_all()
        except Exception:
            log.exception("could not reset the batch; making a new one")
            self._batch = None
        for job in jobs:
            job.emit(Failed())
