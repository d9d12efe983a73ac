"""The batching worker with a scripted engine, and the engine's abort hook with the real tiny model."""

from __future__ import annotations

import asyncio

import pytest

from mgrd.inference import Prompt, SamplingParams, StreamEvent, build_prompt
from mgrd.serving.worker import BatchWorker, Done, Failed, QueueFull


class ScriptedEngine:
    """Yields `steps` one-token events per prompt; records each batch; can be told to fail once."""

    def __init__(self, steps: int = 3) -> None:
        self.steps = steps
        self.batches: list[int] = []
        self.fail_next = False

    def stream(self, prompts, params, *, abort=None):
        self.batches.append(len(prompts))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("injected fault")
        for step in range(self.steps):
            for i in range(len(prompts)):
                last = step == self.steps - 1
                yield StreamEvent(i, 0, [step], reasoning=f"r{step}", finish_reason="length" if last else None)


PROMPT = Prompt((1, 2, 3))
PARAMS = SamplingParams(max_tokens=3)


async def _drain(job) -> list:
    items = []
    while True:
        item = await asyncio.wait_for(job.events.get(), 10)
        items.append(item)
        if isinstance(item, (Done, Failed)):
            return items


def test_jobs_are_batched_up_to_max_batch():
    async def main():
        engine = ScriptedEngine()
        worker = BatchWorker(engine, max_batch=2, max_queue=10)
        loop = asyncio.get_running_loop()
        jobs = [worker.submit(PROMPT, PARAMS, loop) for _ in range(5)]   # queued before the thread starts
        worker.start()
        results = [await _drain(job) for job in jobs]
        worker.stop()
        return engine, results

    engine, results = asyncio.run(main())
    assert engine.batches == [2, 2, 1]
    for items in results:
        assert [e.reasoning for e in items[:-1]] == ["r0", "r1", "r2"]
        assert isinstance(items[-1], Done)


def test_queue_is_bounded():
    async def main():
        worker = BatchWorker(ScriptedEngine(), max_batch=1, max_queue=2)
        loop = asyncio.get_running_loop()
        worker.submit(PROMPT, PARAMS, loop)
        worker.submit(PROMPT, PARAMS, loop)
        assert worker.is_full()
        with pytest.raises(QueueFull):
            worker.submit(PROMPT, PARAMS, loop)

    asyncio.run(main())


def test_a_failing_batch_fails_its_jobs_only():
    async def main():
        engine = ScriptedEngine()
        engine.fail_next = True
        worker = BatchWorker(engine, max_batch=1, max_queue=10)
        loop = asyncio.get_running_loop()
        first, second = worker.submit(PROMPT, PARAMS, loop), worker.submit(PROMPT, PARAMS, loop)
        worker.start()
        out = await _drain(first), await _drain(second)
        worker.stop()
        return out

    first, second = asyncio.run(main())
    assert len(first) == 1 and isinstance(first[0], Failed)
    assert len(second) == 4 and isinstance(second[-1], Done)


def test_a_job_cancelled_while_waiting_never_reaches_the_engine():
    async def main():
        engine = ScriptedEngine()
        worker = BatchWorker(engine, max_batch=4, max_queue=10)
        loop = asyncio.get_running_loop()
        gone, kept = worker.submit(PROMPT, PARAMS, loop), worker.submit(PROMPT, PARAMS, loop)
        gone.cancel()
        worker.start()
        out = await _drain(gone), await _drain(kept)
        assert worker.wait_idle(5)
        worker.stop()
        return engine, out

    engine, (gone, kept) = asyncio.run(main())
    assert engine.batches == [1]
    assert len(gone) == 1 and isinstance(gone[0], Done)
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
