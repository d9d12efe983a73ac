"""Serving throughput and time to first token: batched server vs sequential single-request serving.

Starts the same tiny random checkpoint twice on loopback, once with --max-batch 8 and once with
--max-batch 1 (the baseline: one request at a time), and drives each at concurrency 1 and 8 with
streamed requests (a 2 s audio clip + a question, greedy, a fixed number of tokens).

    python bench/serve.py [--requests 32] [--max-tokens 64]
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


def make_checkpoint(out: Path) -> None:
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = tiny_config(-(-tokenizer.vocab_size // 64) * 64,
                      audio_token_ids=AudioTokenIds(s.audio_start, s.audio_end, s.audio_patch),
                      eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)  # peaked: every request runs to max_tokens, so runs compare fairly
    save_pretrained(model, out, tokenizer=tokenizer)


class Server:
    def __init__(self, engine, max_batch: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        app = create_app(engine, ServerSettings(model_name="tiny", max_batch=max_batch, max_queue=256))
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


def drive(url: str, body: dict, requests: int, concurrency: int) -> tuple[float, float]:
    """(requests per second, median time to first token in ms)."""
    ttfts: list[float] = []
    lock = threading.Lock()
    per_client = requests // concurrency

    def client():
        with httpx.Client(timeout=300) as http:
            for _ in range(per_client):
                t = one_request(http, url, body)
                with lock:
                    ttfts.append(t)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return per_client * concurrency / elapsed, statistics.median(ttfts) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
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
    for max_batch in (1, 8):
        with Server(engine, max_batch) as url:
            drive(url, body, 4, 4)  # warm-up
            for concurrency in (1, 8):
                n = args.requests if concurrency == 8 else max(8, args.requests // 4)
                results[max_batch, concurrency] = drive(url, body, n, concurrency)
    print(f"tiny model, {args.max_tokens} tokens per request, 2 s audio clip, torch threads {torch.get_num_threads()}")
    print(f"{'server':<28}{'concurrency':>12}{'req/s':>10}{'TTFT ms (median)':>20}")
    for (max_batch, concurrency), (rps, ttft) in sorted(results.items()):
        label = "sequential (--max-batch 1)" if max_batch == 1 else "batched (--max-batch 8)"
        print(f"{label:<28}{concurrency:>12}{rps:>10.2f}{ttft:>20.1f}")
    for concurrency in (1, 8):
        (b_rps, b_ttft), (s_rps, s_ttft) = results[8, concurrency], results[1, concurrency]
        print(f"concurrency {concurrency}: batched / sequential throughput {b_rps / s_rps:.2f}x, "
              f"TTFT ratio {b_ttft / s_ttft:.2f}x")


if __name__ == "__main__":
    main()
