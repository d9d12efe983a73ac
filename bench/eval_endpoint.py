"""Benchmark: items/s of the evaluation harness's endpoint backend at concurrency 1 and 8 against the
loopback fake server, whole pipeline (audio encoding, requests, atomic cache writes, scoring).

Run from the repository root: `python bench/eval_endpoint.py [--items 48] [--latency-ms 50]`.

The fake server answers every request after a fixed delay (standing in for model time), so the
ratio shows how much of that latency bounded concurrency hides; baseline = concurrency 1, same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mgrd.evaluation import EndpointBackend, EvalConfig, RetryPolicy, run_eval  # noqa: E402
from mgrd.evaluation.fake_endpoint import FakeEndpoint, FakeReply  # noqa: E402
from mgrd.tasks.registry import load_task  # noqa: E402


def make_mmau(root: Path, n: int, seconds: float) -> Path:
    root.mkdir(parents=True)
    t = np.arange(int(seconds * 16000)) / 16000
    rows = []
    for i in range(n):
        sf.write(root / f"{i}.wav", (0.3 * np.sin(2 * np.pi * (200 + 10 * i) * t)).astype(np.float32), 16000)
        rows.append({"id": f"b{i}", "audio_id": f"./{i}.wav", "question": f"Question {i}?",
                     "choices": ["low", "high"], "answer": "high", "category": "Reasoning"})
    (root / "mmau-test-mini.json").write_text(json.dumps(rows))
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--audio-seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        task = load_task("mmau", make_mmau(Path(tmp) / "mmau", args.items, args.audio_seconds))
        reply = FakeReply("The second tone is higher.\n</think>\nB", delay_s=args.latency_ms / 1000)
        rates = {}
        with FakeEndpoint(lambda body, n: reply) as server:
            for concurrency in (1, 8):
                backend = EndpointBackend(server.url, "fake", concurrency=concurrency, retry=RetryPolicy(2, 0.1, 1.0))
                start = time.perf_counter()
                scores = run_eval({"mmau": task}, backend, EvalConfig(), Path(tmp) / f"out{concurrency}",
                                  write_report=False)
                elapsed = time.perf_counter() - start
                backend.close()
                assert scores["run"]["requested"] == args.items
                assert scores["tasks"]["mmau"]["budgets"]["unlimited"]["robust"]["mean"] == 1.0
                rates[concurrency] = args.items / elapsed
                print(f"concurrency {concurrency}: {args.items} items in {elapsed:.2f} s = {rates[concurrency]:.1f} items/s "
                      f"(max in flight seen {server.max_in_flight})")
                server.max_in_flight = 0
        ideal = 1000 / args.latency_ms
        print(f"ratio concurrency 8 / 1: {rates[8] / rates[1]:.2f}x (latency-bound ideal at 1: {ideal:.1f} items/s)")


if __name__ == "__main__":
    main()
