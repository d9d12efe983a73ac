"""The continuous-batching worker with a scripted batch, and with the real tiny engine."""

from __future__ import annotations

import asyncio

import pytest

from mgrd.inference import Prompt, SamplingParams, StreamEvent, build_prompt
from mgrd.serving.worker import BatchWorker, Done, Failed, QueueFull


class ScriptedBatch:
    """Each admitted request yields `steps` one-token events per sample; `room` requests fit at once."""

    def __init__(self, steps: int = 3, room: int = 100) -> None:
        self.steps, self.room = steps, room
        self.live: dict = {}           # key -> [params, steps done]
        self.admitted: list = []
        self.sizes: list[int] = []     # batch size at each step
        self.fail_next = False

    @property
    def idle(self) -> bool:
        return not self.live

    def fits_ever(self, prompt, params) -> bool:
        return True

    def add(self, key, prompt, params) -> bool:
        if len(self.live) >= self.room:
            return False
        self.live[key] = [params, 0]
        self.admitted.append(key)
        return True

    def step(self, abort=None):
        self.sizes.append(len(self.live))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("injected fault")
        events = []
        for key, entry in list(self.live.items()):
            params, done = entry
            entry[1] += 1
            cut = abort is not None and abort(key)
            last = entry[1] == self.steps or cut
            for s in range(params.n):
                events.append(StreamEvent(key, s, [done], reasoning=f"r{done}",
                                          finish_reason=("abort" if cut else "length") if last else None))
            if last:
                del self.live[key]
        return events, []

    def abort_all(self):
        self.live.clear()
        return []


class ScriptedEngine:
    def __init__(self, batch: ScriptedBatch) -> None:
        self.scripted = batch

    def continuous_batch(self, kv_cache_tokens, **kwargs):
        return self.scripted


PROMPT = Prompt((1, 2, 3))
PARAMS = SamplingParams(max_tokens=3)


async def _drain(job) -> list:
    items = []
    while True:
        item = await asyncio.wait_for(job.events.get(), 10)
        items.append(item)
        if isinstance(item, (Done, Failed)):
            return items


def _run(batch: ScriptedBatch, body, **worker_kw):
    async def main():
        worker = BatchWorker(ScriptedEngine(batch), **worker_kw)
        out = await body(worker, asyncio.get_running_loop())
        worker.stop()
        return out
    return asyncio.run(main())


def test_requests_join_at_step_boundaries_up_to_max_batch():
    batch = ScriptedBatch()

    async def body(worker, loop):
        jobs = [worker.submit(PROMPT, PARAMS, loop) for _ in range(5)]   # queued before the thread starts
        worker.start()
        return [await _drain(job) for job in jobs]

    results = _run(batch, body, max_batch=2, max_queue=10)
    # Two run, then each one that finishes is replaced at once: never a step with a free place and a waiter.
    assert batch.sizes == [2, 2, 2, 2, 2, 2, 1, 1, 1]
    for items in results:
        assert [e.reasoning for e in items[:-1]] == ["r0", "r1", "r2"]
        assert isinstance(items[-1], Done)


def test_a_request_waits_for_kv_room_rather_than_failing():
    batch = ScriptedBatch(room=1)

    async def body(worker, loop):
        jobs = [worker.submit(PROMPT, PARAMS, loop) for _ in range(3)]
        worker.start()
        return [await _drain(job) for job in jobs]

    results = _run(batch, body, max_batch=8, max_queue=10)
    assert batch.sizes == [1] * 9
    assert all(isinstance(items[-1], Done) and len(items) == 4 for items in results)


def test_queue_is_bounded():
    async def body(worker, loop):
        worker.submit(PROMPT, PARAMS, loop)
        worker.submit(PROMPT, PARAMS, loop)
        assert worker.is_full()
        with pytest.raises(QueueFull):
            worker.submit(PROMPT, PARAMS, loop)

    _run(ScriptedBatch(), body, max_batch=1, max_queue=2)


def test_a_failing_step_fails_the_running_jobs_only():
    batch = ScriptedBatch()
    batch.fail_next = True

    async def body(worker, loop):
        first, second = worker.submit(PROMPT, PARAMS, loop), worker.submit(PROMPT, PARAMS, loop)
        worker.start()
        return await _drain(first), await _drain(second)

    first, second = _run(batch, body, max_batch=1, max_queue=10)
    assert len(first) == 1 and isinstance(first[0], Failed)
    assert len(second) == 4 and isinstance(second[-1], Done)


def test_a_job_cancelled_while_waiting_never_reaches_the_engine_and_ends_with_one_abort_per_sample():
    batch = ScriptedBatch()

    async def body(worker, loop):
        gone = worker.submit(PROMPT, SamplingParams(max_tokens=3, n=2), loop)
        kept = worker.submit(PROMPT, PARAMS, loop)
        gone.cancel()
        worker.start()
        out = await _drain(gone), await _drain(kept)
        assert worker.wait_idle(5)
        return out

    gone, kept = _run(batch, body, max_batch=4, max_queue=10)
    assert len(batch.admitted) == 1
    assert [(e.sample_index, e.finish_reason) for e in gone[:-1]] == [(0, "abort"), (1, "abort")]
    assert isinstance(gone[-1], Done)
    assert len(kept) == 4


def test_engine_abort_hook_ends_one_row_and_leaves_the_others_alone(engine):
    prompt = build_prompt([{"role": "user", "content": "hello"}], engine.tokenizer)
    params = SamplingParams(max_tokens=12, temperature=0)
    asked = {0: 0, 1: 0}

    def abort(i: int) -> bool:
        asked[i] += 1
        return i == 1 and asked[1] >= 3

    events = list(engine.stream([prompt, prompt], params, abort=abort))
    rows = {i: [e for e in events if e.prompt_index == i] for i in (0, 1)}
    assert [e.finish_reason for e in rows[1]] == [None, None, "abort"]
    assert len(rows[0]) == 12 and rows[0][-1].finish_reason == "length"
    alone = list(engine.stream([prompt], params))
    assert [e.token_ids for e in rows[0]] == [e.token_ids for e in alone]
    assert rows[0][-1].reasoning_tokens == alone[-1].reasoning_tokens == 12
