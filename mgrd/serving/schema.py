"""Chat-completion requests: a JSON body validated by the request models into a `ChatRequest` (no decoding here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mgrd.inference import SamplingParams
from mgrd.serving.errors import APIError
from mgrd.serving.request import ChatCompletionRequest, audio_parts
from mgrd.serving.settings import ServerSettings
from mgrd.serving.validation import api_error


@dataclass
class ChatRequest:
    """A validated request. `messages` keep `input_audio` parts, still base64 (decoded later, off the event loop).

    `sampling` holds the SamplingParams fields except max_tokens, which depends on the prompt
    length (`max_tokens` None: whatever room the context leaves).
    """

    messages: list[dict]
    sampling: dict[str, Any]
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = False
    include_reasoning: bool = True
    tools: list | None = None
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    audio_parts: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.sampling.get("n", 1)

    def params(self, prompt_tokens: int, max_model_len: int) -> SamplingParams:
        """SamplingParams for a prompt of `prompt_tokens`; 400 if prompt + max_tokens exceed `max_model_len`."""
        room = max_model_len - prompt_tokens
        if room < 1:
            raise APIError(400, f"the prompt is {prompt_tokens} tokens (audio included); this model's maximum "
                                f"context length is {max_model_len} tokens, which leaves no room to generate",
                           param="messages")
        if self.max_tokens is not None and self.max_tokens > room:
            raise APIError(400, f"this model's maximum context length is {max_model_len} tokens; the prompt is "
                                f"{prompt_tokens} tokens and max_tokens asks for {self.max_tokens}: at most "
                                f"{room} can be generated", param="max_tokens")
        return SamplingParams(max_tokens=self.max_tokens or room, **self.sampling)


def parse_chat_request(body: Any, settings: ServerSettings, vocab_size: int, *,
                       max_text_chars: int | None = None) -> ChatRequest:
    """Validate a decoded JSON body; raises APIError (400, or 404 for an unknown model) naming the field.

    `max_text_chars` bounds the characters of all text (messages and tools) before anything is
    tokenized, so that an over-long text is refused without the cost of tokenizing it.
    """
    context = {"model_name": settings.model_name, "max_n": settings.max_n, "vocab_size": vocab_size,
               "max_audio_parts": settings.max_audio_parts, "max_audio_bytes": settings.max_audio_bytes,
               "max_text_chars": max_text_chars}
    try:
        body = ChatCompletionRequest.model_validate(body, context=context)
    except ValidationError as e:
        raise api_error(e) from None
    return chat_request(body)


def chat_request(body: ChatCompletionRequest) -> ChatRequest:
    """The engine-facing form of a validated body: plain messages, SamplingParams fields, the audio parts' places."""
    sampling: dict[str, Any] = {
        "temperature": body.temperature, "top_p": body.top_p, "top_k": max(body.top_k, 0),
        "repetition_penalty": body.repetition_penalty, "n": body.n, "seed": body.seed,
        "stop": (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())}
    if body.stop_token_ids is not None:
        sampling["stop_token_ids"] = tuple(body.stop_token_ids)
    sampling["thinking_budget"] = body.thinking_budget_tokens()
    return ChatRequest(
        messages=[m.plain() for m in body.messages], sampling=sampling,
        audio_parts=[(i, j) for i, j, _ in audio_parts(body.messages)],
        max_tokens=body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens,
        stream=body.stream, include_usage=body.stream_options is not None and body.stream_options.include_usage,
        include_reasoning=body.include_reasoning, tools=body.tools or None,
        add_generation_prompt=body.add_generation_prompt, continue_final_message=body.continue_final_message)
