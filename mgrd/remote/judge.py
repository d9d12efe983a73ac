"""An LLM judge on any OpenAI-compatible endpoint: cached, retried, with bounded concurrency.

The one judge client of the project: evaluation's judged benchmarks ask it in batches (`replies`),
the training filters one prompt at a time (`ask`, `yes_no`). A reply is cached by (judge model,
prompt, sampling), so a rerun asks only what it lacks; a failed request is retried by the policy,
then reported (a failed record, or `JudgeFailed`), never crashing its caller with a network error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import httpx

from mgrd.progress import track
from mgrd.remote.retry import RequestFailed, RetryPolicy, post_json
from mgrd.remote.store import RecordStore, stable_hash

YES_NO_SAMPLING = {"temperature": 0.0, "max_tokens": 4}


class JudgeFailed(Exception):
    """The judge gave no usable reply after retries (network error, HTTP error, malformed reply)."""


class Judge:
    """Asks `model` at `base_url` each judge prompt once; replies are cached by (judge, prompt, sampling)
    under `store` (in memory when None), failures are cached as failed and asked again next time.

    With `base_url=None` the judge only reads its cache (reports rebuilt without network).
    """

    def __init__(self, base_url: str | None, model: str, store: RecordStore | None = None, *, concurrency: int = 4,
                 timeout_s: float = 120.0, retry: RetryPolicy = RetryPolicy(), api_key: str | None = None) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"judge concurrency must be an integer >= 1, got {concurrency!r}")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.model, self.store, self.concurrency, self.retry = model, store, concurrency, retry
        self._memory: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.client = None
        if self.base_url:
            headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
            self.client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0)),
                                       headers=headers, limits=httpx.Limits(max_connections=concurrency))

    def identity(self) -> dict:
        return {"base_url": self.base_url, "model": self.model}

    def key(self, prompt: str, sampling: Mapping) -> str:
        return stable_hash({"judge_model": self.model, "prompt": prompt, "sampling": dict(sampling)})

    def replies(self, jobs: Iterable[tuple[str, Mapping]]) -> dict[str, dict]:
        """{key: record} for each (prompt, sampling); records have `status`, `reply` and `prompt`."""
        wanted: dict[str, tuple[str, Mapping]] = {self.key(p, s): (p, s) for p, s in jobs}
        out, missing = {}, []
        for key, job in wanted.items():
            record = self._get(key)
            if record is not None and record.get("status") == "ok":
                out[key] = record
            else:
                missing.append((key, job))
        if missing and self.client is not None:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="mgrd-judge") as pool:
                for record in track(pool.map(lambda kj: self._ask(*kj), missing), f"judge {self.model}",
                                    total=len(missing), unit="requests"):
                    self._put(record)
                    out[record["key"]] = record
        return out

    def ask(self, prompt: str, sampling: Mapping = YES_NO_SAMPLING) -> str:
        """The judge's reply to one prompt (from the cache when asked before); raises `JudgeFailed`."""
        key = self.key(prompt, sampling)
        record = self.replies([(prompt, sampling)]).get(key)
        if record is None:
            raise JudgeFailed("judge has no endpoint and no cached reply for this prompt")
        if record["status"] != "ok":
            raise JudgeFailed(f"judge {self.model} failed: {record['error']}")
        return record["reply"]

    def yes_no(self, prompt: str) -> bool | None:
        """True for a reply starting YES, False for NO, None for anything else; raises `JudgeFailed`."""
        text = self.ask(prompt).strip().upper()
        return True if text.startswith("YES") else False if text.startswith("NO") else None

    def _get(self, key: str) -> dict | None:
        if self.store is not None:
            return self.store.get(key)
        with self._lock:
            return self._memory.get(key)

    def _put(self, record: dict) -> None:
        if self.store is not None:
            self.store.put(record)
        else:
            with self._lock:
                self._memory[record["key"]] = record

    def _ask(self, key: str, job: tuple[str, Mapping]) -> dict:
        prompt, sampling = job
        record = {"key": key, "judge_model": self.model, "base_url": self.base_url, "prompt": prompt,
                  "sampling": dict(sampling), "status": "failed", "reply": "", "error": ""}
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], **dict(sampling)}
        start = time.perf_counter()
        try:
            data, attempts = post_json(self.client, f"{self.base_url}/chat/completions", body, self.retry)
            reply = data["choices"][0]["message"]["content"]
            if not isinstance(reply, str):
                raise TypeError("content is not text")
            record.update(status="ok", reply=reply, attempts=attempts)
        except RequestFailed as e:
            record["error"] = str(e)
        except (KeyError, IndexError, TypeError) as e:
            record["error"] = f"malformed judge response ({e})"
        record["latency_s"] = time.perf_counter() - start
        return record

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
