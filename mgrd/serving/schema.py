"""Chat-completion requests: a JSON body checked field by field into a `ChatRequest` (no decoding here)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from mgrd.inference import SamplingParams
from mgrd.serving.errors import APIError
from mgrd.serving.settings import AUDIO_FORMATS, REASONING_EFFORT_BUDGETS, ServerSettings

ROLES = ("system", "user", "human", "assistant", "tool", "function_output")
AUDIO_ROLES = ("user", "human")
PART_TYPES = ("text", "input_audio")
MAX_STOP_STRINGS = 16
MAX_TEMPERATURE = 100.0
MAX_REPETITION_PENALTY = 10.0
_MISSING = object()
# Standard alphabet, padded, no whitespace: what strict decoding accepts, checked without decoding.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


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
    """Check a decoded JSON body; raises APIError (400, or 404 for an unknown model) naming the field.

    `max_text_chars` bounds the characters of all text (messages and tools) before anything is
    tokenized, so that an over-long text is refused without the cost of tokenizing it.
    """
    if not isinstance(body, dict):
        raise APIError(400, f"the request body must be a JSON object, got {_json_type(body)}")
    model = body.get("model")
    if model is not None and model != settings.model_name:
        shown = repr(model)[:100] if isinstance(model, str) else _json_type(model)
        raise APIError(404, f"The model {shown} does not exist; this server serves "
                            f"`{settings.model_name}`", param="model")
    messages, audio_parts = _messages(body.get("messages", _MISSING), settings)
    request = ChatRequest(messages=messages, sampling=_sampling(body, settings, vocab_size),
                          audio_parts=audio_parts)
    request.max_tokens = _max_tokens(body)
    request.stream = _bool(body, "stream", False)
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise APIError(400, "stream_options must be an object such as {\"include_usage\": true}",
                           param="stream_options")
        request.include_usage = _bool(options, "include_usage", False, "stream_options.include_usage")
    request.include_reasoning = _bool(body, "include_reasoning", True)
    request.add_generation_prompt = _bool(body, "add_generation_prompt", True)
    request.continue_final_message = _bool(body, "continue_final_message", False)
    _bool(body, "skip_special_tokens", True)  # accepted: stop tokens never reach the text anyway
    request.tools = _tools(body)
    if max_text_chars is not None:
        _check_text_length(messages, request.tools, max_text_chars)
    _unsupported(body)
    return request


def _check_text_length(messages: list[dict], tools: list | None, limit: int) -> None:
    total = len(json.dumps(tools, ensure_ascii=False)) if tools else 0
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p["text"]) for p in content if p["type"] == "text")
    if total > limit:
        raise APIError(400, f"the request's text is {total} characters; at most {limit} are accepted (the "
                            f"limit follows from this model's context length), send a shorter text",
                       param="messages")


# -- messages ---------------------------------------------------------------------------------------
def _messages(messages: Any, settings: ServerSettings) -> tuple[list[dict], list[tuple[int, int]]]:
    if messages is _MISSING:
        raise APIError(400, "'messages' is required: a non-empty list of {role, content} objects", param="messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, f"'messages' must be a non-empty list of {{role, content}} objects, got "
                            f"{_json_type(messages) if messages != [] else 'an empty list'}", param="messages")
    out, audio = [], []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise APIError(400, f"{where} must be an object with 'role' and 'content', got {_json_type(message)}",
                           param=where)
        role = message.get("role")
        if role not in ROLES:
            raise APIError(400, f"{where}.role must be one of {', '.join(ROLES)}, got {_short(role)}",
                           param=f"{where}.role")
        clean: dict[str, Any] = {"role": role, "content": _content(message, i, role, audio)}
        if "eot" in message:
            clean["eot"] = _bool(message, "eot", True, f"{where}.eot")
        out.append(clean)
    if len(audio) > settings.max_audio_parts:
        raise APIError(400, f"the request has {len(audio)} audio parts; at most {settings.max_audio_parts} are "
                            "accepted per request", param="messages")
    for i, j in audio:
        data = out[i]["content"][j]["input_audio"]["data"]
        if len(data) * 3 // 4 > settings.max_audio_bytes:
            raise APIError(400, f"audio part is larger than the limit of {settings.max_audio_bytes} bytes",
                           param=f"messages[{i}].content[{j}].input_audio.data")
    return out, audio


def _content(message: dict, i: int, role: str, audio: list[tuple[int, int]]) -> Any:
    where = f"messages[{i}].content"
    content = message.get("content", _MISSING)
    if content is _MISSING or content is None:
        if role == "assistant":
            return None
        raise APIError(400, f"{where} is required for role {role!r}: a string or a list of parts", param=where)
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise APIError(400, f"{where} must be a string or a list of parts, got {_json_type(content)}", param=where)
    parts = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise APIError(400, f"{at}.text must be a string", param=f"{at}.text")
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_audio":
            if role not in AUDIO_ROLES:
                raise APIError(400, f"{at}: audio is accepted in user (or human) messages only, not in role "
                                    f"{role!r}", param=at)
            parts.append({"type": "input_audio", "input_audio": _input_audio(part.get("input_audio"), at)})
            audio.append((i, j))
        elif kind == "audio_url":
            raise APIError(400, f"{at}: audio URLs are not fetched by this server; send the audio itself as an "
                                "input_audio part (base64)", param=at)
        else:
            got = f"type {_short(kind)}" if isinstance(part, dict) else _json_type(part)
            raise APIError(400, f"{at}: unknown content part ({got}); accepted part types: "
                                f"{', '.join(PART_TYPES)}", param=f"{at}.type")
    return parts


def _input_audio(body: Any, at: str) -> dict:
    if not isinstance(body, dict):
        raise APIError(400, f"{at}.input_audio must be an object with 'data' (base64) and 'format'",
                       param=f"{at}.input_audio")
    data, fmt = body.get("data"), body.get("format")
    if not isinstance(data, str) or not data:
        raise APIError(400, f"{at}.input_audio.data must be a non-empty base64 string",
                       param=f"{at}.input_audio.data")
    payload = data
    if data.startswith("data:"):
        header, sep, payload = data.partition(",")
        if not sep or not header.startswith("data:audio/") or not header.endswith(";base64"):
            raise APIError(400, f"{at}.input_audio.data is a data URL but not 'data:audio/<format>;base64,<payload>'; "
                                "send that form or the base64 payload alone", param=f"{at}.input_audio.data")
    if len(payload) % 4 or not _BASE64.fullmatch(payload):
        raise APIError(400, f"{at}.input_audio.data is not valid base64: use the standard alphabet (A-Z a-z 0-9 + /), "
                            "'=' padding to a multiple of 4 characters and no whitespace",
                       param=f"{at}.input_audio.data")
    if fmt is not None and (not isinstance(fmt, str) or fmt.lower() not in AUDIO_FORMATS):
        raise APIError(400, f"{at}.input_audio.format {_short(fmt)} is not accepted; accepted: "
                            f"{', '.join(AUDIO_FORMATS)}", param=f"{at}.input_audio.format")
    return {"data": data, "format": fmt}


# -- sampling ---------------------------------------------------------------------------------------
def _sampling(body: dict, settings: ServerSettings, vocab_size: int) -> dict[str, Any]:
    s: dict[str, Any] = {}
    s["temperature"] = _number(body, "temperature", 1.0, 0.0, MAX_TEMPERATURE)
    s["top_p"] = _number(body, "top_p", 1.0, 0.0, 1.0, low_open=True)
    top_k = _integer(body, "top_k", 0, -1, vocab_size)
    s["top_k"] = max(top_k, 0)
    s["repetition_penalty"] = _number(body, "repetition_penalty", 1.0, 0.0, MAX_REPETITION_PENALTY, low_open=True)
    s["n"] = _integer(body, "n", 1, 1, settings.max_n)
    s["seed"] = _integer(body, "seed", None, 0, 2**63 - 1)
    s["stop"] = _stop(body.get("stop"))
    ids = body.get("stop_token_ids")
    if ids is not None:
        if not isinstance(ids, list) or not all(_is_int(t) and 0 <= t < vocab_size for t in ids) or len(ids) > 64:
            raise APIError(400, f"stop_token_ids must be a list of at most 64 token ids in [0, {vocab_size})",
                           param="stop_token_ids")
        s["stop_token_ids"] = tuple(ids)
    s["thinking_budget"] = _thinking_budget(body)
    return s


def _thinking_budget(body: dict) -> int | None:
    given = [k for k in ("thinking_budget", "max_reasoning_tokens", "reasoning_effort") if body.get(k) is not None]
    if len(given) > 1:
        raise APIError(400, f"give one of thinking_budget, max_reasoning_tokens and reasoning_effort, not "
                            f"{' and '.join(given)}", param=given[1])
    if not given:
        return None
    if given[0] == "reasoning_effort":
        effort = body["reasoning_effort"]
        if not isinstance(effort, str) or effort not in REASONING_EFFORT_BUDGETS:
            raise APIError(400, f"reasoning_effort {_short(effort)} is not accepted; accepted: "
                                f"{', '.join(REASONING_EFFORT_BUDGETS)}", param="reasoning_effort")
        return REASONING_EFFORT_BUDGETS[effort]
    return _integer(body, given[0], None, 0, None)


def _max_tokens(body: dict) -> int | None:
    # max_completion_tokens is OpenAI's newer name; it wins when both are sent.
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    return _integer(body, name, None, 1, None)


def _stop(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > MAX_STOP_STRINGS or \
            not all(isinstance(s, str) and s for s in stops):
        raise APIError(400, f"stop must be a non-empty string or a list of at most {MAX_STOP_STRINGS} of them",
                       param="stop")
    return tuple(stops)


def _tools(body: dict) -> list | None:
    tools, choice = body.get("tools"), body.get("tool_choice")
    if not isinstance(choice, (str, type(None))) or choice not in (None, "none", "auto"):
        raise APIError(400, "tool_choice must be 'none' or 'auto' (tool calls are not parsed by this server)",
                       param="tool_choice")
    if not tools and choice == "auto":
        raise APIError(400, "tool_choice 'auto' needs a non-empty 'tools' list", param="tool_choice")
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise APIError(400, "tools must be a list of tool schema objects", param="tools")
    return tools or None


def _unsupported(body: dict) -> None:
    """Fields whose meaning this server does not implement, refused rather than silently ignored."""
    for name in ("presence_penalty", "frequency_penalty"):
        if body.get(name) not in (None, 0, 0.0):
            raise APIError(400, f"{name} is not supported (only 0); use repetition_penalty", param=name)
    if body.get("logprobs") not in (None, False) or body.get("top_logprobs") not in (None, 0):
        raise APIError(400, "logprobs are not supported by this server", param="logprobs")
    fmt = body.get("response_format")
    if fmt is not None and fmt != {"type": "text"}:
        raise APIError(400, "response_format must be {\"type\": \"text\"}; structured output is not supported",
                       param="response_format")


# -- scalars ----------------------------------------------------------------------------------------
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _number(body: dict, name: str, default: float, low: float, high: float, *, low_open: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    finite = isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e300 \
        and math.isfinite(value)
    if not finite or value > high or value < low or (low_open and value == low):
        span = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise APIError(400, f"{name}={_short(value)} is out of range; accepted: a number in {span}", param=name)
    return float(value)


def _integer(body: dict, name: str, default: int | None, low: int, high: int | None) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _is_int(value) or value < low or (high is not None and value > high):
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise APIError(400, f"{name}={_short(value)} is out of range; accepted: an integer {span}", param=name)
    return value


def _bool(body: dict, name: str, default: bool, param: str | None = None) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise APIError(400, f"{param or name} must be true or false, got {_short(value)}", param=param or name)
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else _json_type(value)
    return text if len(text) <= 40 else text[:37] + "..."
