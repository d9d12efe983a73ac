"""Serving throughput and time to first token: continuous vs static batching vs sequential serving.

Serves the same tiny random checkpoint on loopback three ways: continuous batching (the server:
requests join and leave the batch at step boundaries, --max-batch 16), static batching (the same
worker, admitting only when the batch is empty: a batch runs to its end before queued requests
start) and sequential (--max-batch 1). Each is driven at concurrency 1, 8 and 16 with streamed
requests (a 2 s audio clip + a question, greedy), each client's successive requests cycling through
1/4, 1/2, 1 and 2.5 times --max-tokens, as real requests differ. Reports requests/s and TTFT p50 /
p99. (Giving each client one fixed length instead — the assignment of this script's first
versions — makes the run's length that of the longest client's chain of identical requests, the
same under any scheduler: it measures the driver, not the server. `--fixed-lengths` keeps it.)

    python bench/serve.py [--requests 64] [--max-tokens 64] [--fixed-lengths]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile
import torch
import uvicorn

from mgrd.chat import Tokenizer, train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.inference import Engine
from mgrd.model import AudioTokenIds, build_model, load_pretrained, save_pretrained, tiny_config
from mgrd.serving import ServerSettings, create_app
from mgrd.serving.worker import BatchWorker

MAX_BATCH = 16
LENGTH_FACTORS = (0.25, 0.5, 1.0, 2.5)


class StaticWorker(BatchWorker):
    """The baseline: admits requests only into an empty batch, so a batch runs to its end."""

    def _admit(self) -> None:
        if not self._running:
            super()._admit()


def make_checkpoint(out: Path) -> None:
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = tiny_config(-(-tokenizer.vocab_size // 64) * 64,
                      audio_token_ids=AudioTokenIds.of(s),
                      eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)  # peaked: every request runs to max_tokens, so runs compare fairly
    save_pretrained(model, out, tokenizer=tokenizer)


class Server:
    def __init__(self, engine, mode: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        max_batch = 1 if mode == "sequential" else MAX_BATCH
        app = create_app(engine, ServerSettings(model_name="tiny", max_batch=max_batch, max_queue=256))
        state = app.state.serving
        if mode == "static":
            state.worker = StaticWorker(engine, max_batch=max_batch, max_queue=256,
                                        kv_cache_tokens=state.worker.kv_cache_tokens)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


def one_request(http: httpx.Client, url: str, body: dict) -> float:
    """Streams one request; returns the time to its first text delta (s)."""
    start = time.perf_counter()
    first = None
    with http.stream("POST", url, json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if first is None and line.startswith("data: {") and ("reasoning_content" in line or '"content":"' in line):
                chunk = json.loads(line[6:])
                delta = chunk["choices"][0]["delta"] if chunk["choices"] else {}
                if delta.get("reasoning_content") or delta.get("content"):
                    first = time.perf_counter() - start
    return first if first is not None else time.perf_counter() - start


def drive(url: str, body: dict, requests: int, concurrency: int,
          fixed: bool = False) -> tuple[float, float, float]:
    """(requests per second, TTFT p50 and p99 in ms); client c's k-th request asks for
    LENGTH_FACTORS[(c + k) % 4] x max_tokens (with `fixed`, LENGTH_FACTORS[(c + k * concurrency) % 4])."""
    ttfts: list[float] = []
    lock = threading.Lock()
    per_client = requests // concurrency

    def client(c: int):
        with httpx.Client(timeout=600) as http:
            for k in range(per_client):
                factor = LENGTH_FACTORS[(c + k * (concurrency if fixed else 1)) % len(LENGTH_FACTORS)]
                t = one_request(http, url, {**body, "max_tokens": max(1, int(body["max_tokens"] * factor))})
                with lock:
                    ttfts.append(t)

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    ttfts.sort()
    p99 = ttfts[min(len(ttfts) - 1, int(0.99 * len(ttfts)))]
    return per_client * concurrency / elapsed, statistics.median(ttfts) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--fixed-lengths", action="store_true", help="one length per client (see the docstring)")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        make_checkpoint(Path(tmp))
        tokenizer = Tokenizer.from_dir(tmp)
        engine = Engine(load_pretrained(tmp, tokenizer_special_ids=tokenizer.special), tokenizer)
    t = np.arange(32000) / 16000
    buf = io.BytesIO()
    soundfile.write(buf, 0.3 * np.sin(2 * np.pi * 440 * t), 16000, format="WAV")
    clip = base64.b64encode(buf.getvalue()).decode()
    body = {"model": "tiny", "stream": True, "temperature": 0, "max_tokens": args.max_tokens, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "What do you hear?"},
                                     {"type": "input_audio", "input_audio": {"data": clip, "format": "wav"}}]}]}
    results = {}
    modes = ("continuous", "static", "sequential")
    for mode in modes:
        with Server(engine, mode) as url:
            drive(url, body, 4, 4)  # warm-up
            for concurrency in (1, 8, 16):
                n = args.requests if concurrency > 1 else max(8, args.requests // 4)
                results[mode, concurrency] = drive(url, body, n, concurrency, args.fixed_lengths)
    print(f"tiny model, {args.max_tokens} x {LENGTH_FACTORS} tokens per request "
          f"({'one length per client' if args.fixed_lengths else 'each client cycling through them'}), "
          f"2 s audio clip, torch threads {torch.get_num_threads()}")
    print(f"{'server':<14}{'concurrency':>12}{'req/s':>10}{'TTFT p50 ms':>14}{'TTFT p99 ms':>14}")
    for mode in modes:
        for concurrency in (1, 8, 16):
            rps, p50, p99 = results[mode, concurrency]
            print(f"{mode:<14}{concurrency:>12}{rps:>10.2f}{p50:>14.1f}{p99:>14.1f}")
    for concurrency in (8, 16):
        c, s_ = results["continuous", concurrency], results["static", concurrency]
        print(f"concurrency {concurrency}: continuous / static throughput {c[0] / s_[0]:.2f}x, "
              f"TTFT p99 {c[2] / s_[2]:.2f}x")

if __name__ == "__main__":
    main()
