"""A bounded loopback load test: 8 concurrent clients, mixed valid and invalid requests, ~15 s."""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest

from .serving_support import MODEL_NAME, audio_part, b64, start_server, user, wav_bytes

DURATION_S = 15.0
CLIENTS = 8


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _requests() -> list[tuple[str, dict | bytes]]:
    clip = wav_bytes(1.5)
    valid = {"model": MODEL_NAME, "messages": user("what is it?", audio_part(clip)), "max_tokens": 16,
             "temperature": 0.7}
    return [
        ("valid", valid),
        ("valid", {**valid, "stream": True}),
        ("valid", {**valid, "n": 2, "reasoning_effort": "low"}),
        ("invalid", {**valid, "messages": user("x", audio_part("%%%" + b64(clip)))}),
        ("invalid", {**valid, "messages": user("x", audio_part(b"\x89PNG" + bytes(200)))}),
        ("invalid", {**valid, "temperature": -1}),
        ("invalid", b"[1, 2"),
        ("invalid", b'"just a string"'),
    ]


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs /proc for RSS")
def test_eight_clients_mixed_traffic_no_5xx_and_bounded_memory(engine):
    kinds = _requests()
    statuses: dict[str, list[int]] = {"valid": [], "invalid": []}
    lock = threading.Lock()
    with start_server(engine, max_batch=8, max_queue=32) as live:
        url = live.url + "/v1/chat/completions"

        def client(seed: int, until: float) -> None:
            rng = random.Random(seed)
            with httpx.Client(timeout=60) as http:
                while time.monotonic() < until:
                    kind, body = rng.choice(kinds)
                    if isinstance(body, bytes):
                        r = http.post(url, content=body, headers={"Content-Type": "application/json"})
                    else:
                        r = http.post(url, json=body)
                        if body.get("stream"):
                            assert r.text.rstrip().endswith("data: [DONE]")
                    with lock:
                        statuses[kind].append(r.status_code)

        def run(seconds: float, seed: int) -> None:
            until = time.monotonic() + seconds
            threads = [threading.Thread(target=client, args=(seed + i, until)) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)

        run(3.0, 0)                       # warm-up: allocator pools, caches
        warm = _rss_mb()
        run(DURATION_S, 100)
        grown = _rss_mb() - warm
        assert httpx.get(live.url + "/health").status_code == 200
    assert all(s < 500 for s in statuses["valid"] + statuses["invalid"]), statuses
    assert set(statuses["invalid"]) <= {400, 429}
    ok = statuses["valid"].count(200)
    assert ok >= 20 and set(statuses["valid"]) <= {200, 429}
    assert grown < 100, f"RSS grew {grown:.0f} MB under load (from {warm:.0f} MB)"
