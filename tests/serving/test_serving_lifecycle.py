"""Life under stress: engine faults (S9), client disconnects (S10), a full queue (429), SIGTERM drain (S15)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from .serving_support import MODEL_NAME, free_port, start_server, user


class WrappedEngine:
    """The real engine, whose continuous batch gets a fault or a gate that the test switches on."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.fail_after: int | None = None
        self.gate: threading.Event | None = None
        self.events = 0

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def continuous_batch(self, kv_cache_tokens, **kwargs):
        return WrappedBatch(self, self.engine.continuous_batch(kv_cache_tokens, **kwargs))


class WrappedBatch:
    def __init__(self, owner: WrappedEngine, batch) -> None:
        self.owner, self.batch = owner, batch

    def __getattr__(self, name):
        return getattr(self.batch, name)

    def step(self, abort=None):
        if self.owner.gate is not None:
            assert self.owner.gate.wait(30)
        events, finished = self.batch.step(abort)
        self.owner.events += len(events)
        if self.owner.fail_after is not None and self.owner.events >= self.owner.fail_after:
            self.owner.events = 0
            raise RuntimeError("injected fault at 0x7f3a2b1c9d00 in /home/someone/mgrd/engine.py")
        return events, finished


def _wait(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


BODY = {"model": MODEL_NAME, "messages": user("hi"), "max_tokens": 8, "temperature": 0}


def test_s9_engine_fault_is_a_500_envelope_and_the_server_lives_on(engine):
    wrapped = WrappedEngine(engine)
    with start_server(wrapped) as live:
        url = live.url + "/v1/chat/completions"
        wrapped.fail_after = 3
        r = httpx.post(url, json=BODY, timeout=30)
        assert r.status_code == 500
        error = r.json()["error"]
        assert error["code"] == 500 and "0x7f" not in r.text and "/home" not in r.text and "injected" not in r.text
        start = time.monotonic()
        with httpx.stream("POST", url, json={**BODY, "stream": True}, timeout=30) as s:
            lines = [line for line in s.iter_lines() if line]
        assert time.monotonic() - start < 5
        assert lines[-1] == "data: [DONE]"
        assert json.loads(lines[-2].removeprefix("data: "))["error"]["code"] == 500
        wrapped.fail_after = None
        assert httpx.post(url, json=BODY, timeout=30).status_code == 200


def test_s10_client_disconnect_aborts_its_generation(engine):
    with start_server(engine) as live:
        worker = live.state.worker
        body = {**BODY, "max_tokens": 3000, "stream": True}
        with httpx.stream("POST", live.url + "/v1/chat/completions", json=body, timeout=30) as s:
            lines = s.iter_lines()
            next(lines)
            next(lines)
        assert _wait(lambda: worker.running == 0, 2.0), "the aborted request still runs"
        before = worker.tokens_generated
        time.sleep(0.3)
        assert worker.tokens_generated == before < 3000
        # The same for a request that is not streamed: the client times out and goes away.
        with pytest.raises(httpx.TimeoutException):
            httpx.post(live.url + "/v1/chat/completions", json={**BODY, "max_tokens": 3000}, timeout=0.5)
        assert _wait(lambda: worker.running == 0, 2.0)
        assert worker.tokens_generated - before < 3000


def test_full_queue_is_429_with_retry_after(engine):
    wrapped = WrappedEngine(engine)
    wrapped.gate = threading.Event()
    with start_server(wrapped, max_batch=1, max_queue=1) as live:
        url = live.url + "/v1/chat/completions"
        results = []
        threads = [threading.Thread(target=lambda: results.append(httpx.post(url, json=BODY, timeout=30)))
                   for _ in range(2)]
        threads[0].start()
        assert _wait(lambda: live.state.worker.running == 1)
        threads[1].start()
        assert _wait(lambda: live.state.worker.waiting == 1)
        r = httpx.post(url, json=BODY, timeout=30)
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == 429
        wrapped.gate.set()
        for t in threads:
            t.join(30)
        assert [x.status_code for x in results] == [200, 200]


def _status(url: str) -> int | None:
    try:
        return httpx.post(url + "/v1/chat/completions", json=BODY, timeout=2).status_code
    except httpx.TransportError:
        return None


def _finishes(lines: list[str]) -> list[str]:
    assert lines[-1] == "data: [DONE]"
    return [f for x in lines[1:-1] for f in [json.loads(x.removeprefix("data: "))["choices"][0]["finish_reason"]] if f]


def _stream_into(url: str, results: list, max_tokens: int) -> threading.Thread:
    def run():
        body = {**BODY, "max_tokens": max_tokens, "stream": True}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as s:
            results.append([line for line in s.iter_lines() if line])
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_s15_drain_lets_in_flight_requests_finish_and_refuses_new_ones(engine):
    with start_server(engine, draining=True, drain_timeout_s=20) as live:
        results: list = []
        clients = [_stream_into(live.url, results, 300) for _ in range(3)]
        assert _wait(lambda: live.state.worker.running + live.state.worker.waiting == 3)
        live.server.handle_exit(signal.SIGTERM, None)
        assert _status(live.url) in (503, None)
        assert httpx.get(live.url + "/health").status_code in (503,)
        for c in clients:
            c.join(30)
        live.thread.join(15)
        assert not live.thread.is_alive(), "the server did not exit after the drain"
    assert [_finishes(lines) for lines in results] == [["length"]] * 3


def test_s15_drain_timeout_aborts_what_is_left(engine):
    with start_server(engine, draining=True, drain_timeout_s=0.3) as live:
        results: list = []
        client = _stream_into(live.url, results, 3500)
        assert _wait(lambda: live.state.worker.running == 1)
        started = time.monotonic()
        live.server.handle_exit(signal.SIGTERM, None)
        client.join(30)
        live.thread.join(15)
        assert not live.thread.is_alive() and time.monotonic() - started < 0.3 + 8
    assert _finishes(results[0]) == ["abort"]


def test_s15_drain_deadline_ends_every_open_stream_with_one_abort_chunk(engine):
    """Running and still-queued streams alike: exactly one finish chunk each, "abort", then [DONE]."""
    with start_server(engine, draining=True, drain_timeout_s=0.3, max_batch=1) as live:
        results: list = []
        clients = [_stream_into(live.url, results, 3500) for _ in range(4)]
        assert _wait(lambda: live.state.worker.running == 1 and live.state.worker.waiting == 3)
        live.server.handle_exit(signal.SIGTERM, None)
        for c in clients:
            c.join(30)
        live.thread.join(15)
    assert len(results) == 4
    assert [_finishes(lines) for lines in results] == [["abort"]] * 4


@pytest.mark.slow
def test_s15_sigterm_to_a_real_server_process(checkpoint_dir, tmp_path):
    """`mgrd serve` in a subprocess: SIGTERM lets in-flight streams finish, then the process exits 0."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mgrd.cli.main", "serve", "--model", str(checkpoint_dir),
                                 "--port", str(port), "--served-model-name", MODEL_NAME, "--device", "cpu",
                                 "--drain-timeout", "20", "--log-level", "warning"],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            assert _wait(lambda: _status(url) == 200, 120), (tmp_path / "server.log").read_text()
            results: list = []
            clients = [_stream_into(url, results, 400) for _ in range(4)]
            time.sleep(2.0)  # the four requests reach the server before SIGTERM, even on a loaded machine
            proc.send_signal(signal.SIGTERM)
            refused = _wait(lambda: _status(url) in (503, None), 5)
            for c in clients:
                c.join(60)
            assert refused, "new requests were still accepted after SIGTERM"
            assert [_finishes(lines) for lines in results] == [["length"]] * 4
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
