"""Chat-completion response objects and stream chunks (OpenAI schema, reasoning in `reasoning_content`)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from mgrd.inference import StreamEvent


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


@dataclass
class ChoiceText:
    """What one sample has produced so far."""

    reasoning: list[str] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    tokens: int = 0
    reasoning_tokens: int = 0
    finish_reason: str | None = None


class Choices:
    """Collects the stream events of one request's `n` samples."""

    def __init__(self, n: int) -> None:
        self.samples = [ChoiceText() for _ in range(n)]

    def add(self, event: StreamEvent) -> None:
        c = self.samples[event.sample_index]
        c.tokens += len(event.token_ids)
        c.reasoning_tokens = event.reasoning_tokens
        if event.reasoning:
            c.reasoning.append(event.reasoning)
        if event.answer:
            c.answer.append(event.answer)
        if event.finish_reason is not None:
            c.finish_reason = event.finish_reason

    def usage(self, prompt_tokens: int) -> dict:
        """OpenAI usage: completion tokens (stop token and forced `</think>` included) summed over samples."""
        completion = sum(c.tokens for c in self.samples)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                "total_tokens": prompt_tokens + completion,
                "completion_tokens_details": {"reasoning_tokens": sum(c.reasoning_tokens for c in self.samples)}}


def completion_object(cid: str, model: str, created: int, choices: Choices, prompt_tokens: int, *,
                      include_reasoning: bool = True) -> dict:
    """The non-streamed `chat.completion` object."""
    out = []
    for i, c in enumerate(choices.samples):
        message = {"role": "assistant", "content": "".join(c.answer)}
        if include_reasoning:
            message["reasoning_content"] = "".join(c.reasoning)
        out.append({"index": i, "message": message, "logprobs": None, "finish_reason": c.finish_reason or "abort"})
    return {"id": cid, "object": "chat.completion", "created": created, "model": model, "choices": out,
            "usage": choices.usage(prompt_tokens)}


def chunk_object(cid: str, model: str, created: int, choices: list[dict], usage: dict | None = None) -> dict:
    """One `chat.completion.chunk`; `choices` are `{"index", "delta", "finish_reason"}` dicts."""
    chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [{"logprobs": None, **c} for c in choices]}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def event_delta(event: StreamEvent, *, include_reasoning: bool = True) -> dict | None:
    """The chunk choice of one engine event, or None when it carries neither text nor a finish."""
    delta = {}
    if include_reasoning and event.reasoning:
        delta["reasoning_content"] = event.reasoning
    if event.answer:
        delta["content"] = event.answer
    if not delta and event.finish_reason is None:
        return None
    return {"index": event.sample_index, "delta": delta, "finish_reason": event.finish_reason}


def sse(obj: dict | str) -> bytes:
    """One server-sent event line: `data: <json>` (or the literal `[DONE]`) and a blank line."""
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def now() -> int:
    return int(time.time())
