"""Any OpenAI-compatible endpoint as a model: audio as base64 WAV `input_audio` parts of ≤25 s,
bounded concurrency, timeouts and retries.

Two request shapes. "official" is Step-Audio-R1's client: role `human`, an assistant prefill
`<think>\\n` sent with `continue_final_message` (the prefill `<think>\\n\\n</think>\\n` for no-think),
`stop_token_ids`, `skip_special_tokens: false`. "openai" is the plain API: role `user`, no prefill;
the reasoning comes from `reasoning_content` or a `<think>` block in the content.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import httpx
import numpy as np
import soundfile as sf

from mgrd.audio import SAMPLE_RATE, load_audio, split_chunks
from mgrd.chat import NO_THINK_PREFILL, THINK_CLOSE, THINK_OPEN, parse_completion
from mgrd.inference.backend import GenerationRequest, GenerationResult, failed
from mgrd.remote.retry import RequestFailed, RetryPolicy, post_json

SHAPES = ("official", "openai")
OFFICIAL_STOP_IDS = (151665,)  # <|EOT|> in the released tokenizer


def wav_chunks_base64(path: str) -> list[str]:
    """The audio at `path` as base64 16 kHz mono 16-bit WAVs of at most 25 s each, in time order."""
    samples = load_audio(path)
    out = []
    for chunk in split_chunks(samples):
        buffer = io.BytesIO()
        sf.write(buffer, np.clip(chunk, -1.0, 1.0), SAMPLE_RATE, format="WAV", subtype="PCM_16")
        out.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return out


def _content(parts: list) -> list[dict]:
    content = []
    for part in parts:
        if part.get("type") == "audio":
            content += [{"type": "input_audio", "input_audio": {"data": d, "format": "wav"}}
                        for d in wav_chunks_base64(part["audio"])]
        else:
            content.append(part)
    return content


class EndpointBackend:
    """Chat completions on `base_url` (…/v1) with the served model name `model`."""

    def __init__(self, base_url: str, model: str, *, shape: str = "official", concurrency: int = 4,
                 timeout_s: float = 600.0, retry: RetryPolicy = RetryPolicy(), api_key: str | None = None,
                 stop_token_ids: tuple[int, ...] = OFFICIAL_STOP_IDS, budget_field: str = "thinking_budget",
                 extra_body: dict | None = None) -> None:
        if shape not in SHAPES:
            raise ValueError(f"unknown request shape {shape!r}; accepted: {', '.join(SHAPES)}")
        if not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
            raise ValueError(f"concurrency must be an integer in [1, 256], got {concurrency!r}")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {base_url!r} must be an http(s) URL such as http://127.0.0.1:9999/v1")
        self.base_url = base_url.rstrip("/")
        self.model, self.shape, self.concurrency = model, shape, concurrency
        self.retry, self.stop_token_ids, self.budget_field = retry, tuple(stop_token_ids), budget_field
        self.extra_body = dict(extra_body or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0)), headers=headers,
                                   limits=httpx.Limits(max_connections=concurrency,
                                                       max_keepalive_connections=concurrency))

    def identity(self) -> dict:
        return {"kind": "endpoint", "base_url": self.base_url, "served_model": self.model, "shape": self.shape,
                "stop_token_ids": list(self.stop_token_ids) if self.shape == "official" else [],
                "budget_field": self.budget_field, "extra_body": self.extra_body}

    # -- requests ----------------------------------------------------------------------------------
    def body(self, request: GenerationRequest) -> dict:
        """The JSON body for `request` (audio read, chunked and encoded here)."""
        s = request.sampling
        official = self.shape == "official"
        messages = []
        for m in request.messages:
            role = "human" if official and m["role"] == "user" else m["role"]
            content = _content(m["content"]) if isinstance(m.get("content"), list) else m.get("content")
            messages.append({"role": role, "content": content})
        body = {"model": self.model, "messages": messages, "max_tokens": s["max_tokens"],
                "temperature": s["temperature"], "top_p": s["top_p"], "stream": False}
        if s.get("seed") is not None:
            body["seed"] = s["seed"]
        if s.get("repetition_penalty") not in (None, 1.0) or official:
            body["repetition_penalty"] = s.get("repetition_penalty") or 1.0
        budget = s.get("thinking_budget")
        if official:
            prefill = THINK_OPEN + "\n" + (NO_THINK_PREFILL if budget == 0 else "")
            messages.append({"role": "assistant", "content": prefill, "eot": False})
            body.update(continue_final_message=True, add_generation_prompt=False, skip_special_tokens=False,
                        stop_token_ids=list(self.stop_token_ids))
        if budget is not None and not (official and budget == 0):
            body[self.budget_field] = budget
        body.update(self.extra_body)
        return body

    def parse(self, request: GenerationRequest, data: dict) -> GenerationResult:
        """A result from a chat-completion JSON; raises RequestFailed for a malformed one."""
        try:
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise RequestFailed("malformed response: no choices[0].message", retryable=False) from None
        if not isinstance(content, str):
            raise RequestFailed(f"malformed response: message content is {type(content).__name__}, not text",
                                retryable=False)
        reasoning_field = message.get("reasoning_content") or message.get("reasoning")
        no_think = self.shape == "official" and request.sampling.get("thinking_budget") == 0
        # A server that splits the reasoning off (mgrd serve, vLLM with a reasoning parser) sends the
        # field even when it is empty: the content is then all answer.
        split = isinstance(message.get("reasoning_content"), str)
        if (isinstance(reasoning_field, str) and reasoning_field) or split:
            reasoning_field = reasoning_field or ""
            reasoning, answer, well_formed = reasoning_field.strip(), content.strip(), THINK_CLOSE not in content
        elif no_think:
            parsed = parse_completion(NO_THINK_PREFILL + content)
            reasoning, answer, well_formed = parsed.reasoning, parsed.answer, parsed.well_formed
        elif self.shape == "official" or THINK_CLOSE in content:
            parsed = parse_completion(content)
            reasoning, answer, well_formed = parsed.reasoning, parsed.answer, parsed.well_formed
        else:
            reasoning, answer, well_formed = "", content.strip(), True
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        details = usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"), dict) else {}
        return GenerationResult(
            key=request.key, status="ok", text=(reasoning_field + "\n" + THINK_CLOSE + "\n" if reasoning_field else "")
            + content, reasoning=reasoning, answer=answer, well_formed=well_formed,
            finish_reason=str(choice.get("finish_reason") or ""), completion_tokens=usage.get("completion_tokens"),
            reasoning_tokens=details.get("reasoning_tokens"), prompt_tokens=usage.get("prompt_tokens"))

    def _one(self, request: GenerationRequest) -> GenerationResult:
        start = time.perf_counter()
        attempts = 1
        try:
            data, attempts = post_json(self.client, f"{self.base_url}/chat/completions", self.body(request),
                                       self.retry)
            result = self.parse(request, data)
        except RequestFailed as e:
            return failed(request.key, str(e), attempts=max(attempts, e.attempts),
                          latency_s=time.perf_counter() - start)
        except (OSError, ValueError) as e:  # unreadable audio and the like: this item only
            return failed(request.key, f"{type(e).__name__}: {e}", latency_s=time.perf_counter() - start)
        result.attempts, result.latency_s = attempts, time.perf_counter() - start
        return result

    def run(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        """Results as they complete; at most `concurrency` requests in flight and 2× that queued,
        so audio is encoded only shortly before it is sent."""
        pending: set[Future] = set()
        source = iter(requests)
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="mgrd-eval") as pool:
            try:
                while True:
                    while len(pending) < 2 * self.concurrency:
                        request = next(source, None)
                        if request is None:
                            break
                        pending.add(pool.submit(self._one, request))
                    if not pending:
                        return
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            finally:
                for future in pending:
                    future.cancel()

    def close(self) -> None:
        self.client.close()
