"""The chat-completion request as pydantic models: what `/v1/chat/completions` accepts, field by field.

Validation needs a context: `model_name`, `max_n`, `max_audio_parts`, `max_audio_bytes` (the server's
limits), `vocab_size` and `max_text_chars` (None: no text limit). Fields are checked in the order
they are declared and the first refusal is the one a client sees, so the order below is the order of
the checks; a check across fields (one thinking budget at most; tool_choice 'auto' needs tools; the
text length) runs with the later field. Fields this server does not know are ignored, as
OpenAI-compatible servers do. Every check's message and `param` are the API's (see `validation`).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, Discriminator, Field, Tag, ValidationInfo,
                      field_validator, model_validator)

from mgrd.serving.settings import AUDIO_FORMATS, REASONING_EFFORT_BUDGETS
from mgrd.serving.validation import (Flag, Integer, Number, checked, checked_flag, is_int, json_type, refusal,
                                     short)

ROLES = ("system", "user", "human", "assistant", "tool", "function_output")
AUDIO_ROLES = ("user", "human")
PART_TYPES = ("text", "input_audio")
MAX_STOP_STRINGS = 16
MAX_STOP_TOKEN_IDS = 64
MAX_TEMPERATURE = 100.0
MAX_REPETITION_PENALTY = 10.0
BUDGET_FIELDS = ("thinking_budget", "max_reasoning_tokens", "reasoning_effort")
# Standard alphabet, padded, no whitespace: what strict decoding accepts, checked without decoding.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_ABSENT = object()   # a required field the body left out (refused by that field's own check, in field order)


def _fill(data: Any, names: tuple[str, ...], value: Any = None) -> Any:
    """`data` with each absent key of `names` set to `value`, so that the field's check (not pydantic's
    'field required') refuses it; anything but an object is left to the model's own check."""
    if not isinstance(data, dict) or all(name in data for name in names):
        return data
    return {**{name: value for name in names}, **data}


# -- content parts ----------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise refusal("{where} must be a string")
    return value


class TextPart(BaseModel):
    """`{"type": "text", "text": "..."}`."""

    type: Literal["text"]
    text: Annotated[str, BeforeValidator(_text)]

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data: Any) -> Any:
        return _fill(data, ("text",))


def _audio_data(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise refusal("{where} must be a non-empty base64 string")
    payload = value
    if value.startswith("data:"):
        header, sep, payload = value.partition(",")
        if not sep or not header.startswith("data:audio/") or not header.endswith(";base64"):
            raise refusal("{where} is a data URL but not 'data:audio/<format>;base64,<payload>'; send that form or "
                          "the base64 payload alone")
    if len(payload) % 4 or not _BASE64.fullmatch(payload):
        raise refusal("{where} is not valid base64: use the standard alphabet (A-Z a-z 0-9 + /), '=' padding to a "
                      "multiple of 4 characters and no whitespace")
    return value


def _audio_format(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in AUDIO_FORMATS:
        raise refusal(f"{{where}} {short(value)} is not accepted; accepted: {', '.join(AUDIO_FORMATS)}")
    return value


class InputAudio(BaseModel):
    """Encoded audio: `data` is base64 (or a `data:audio/<format>;base64,` URL); `format` is a hint (the
    bytes are sniffed)."""

    data: Annotated[str, BeforeValidator(_audio_data)] = Field(
        description="base64 of a wav, flac, mp3 or ogg file, standard alphabet, padded, no whitespace")
    format: Annotated[str | None, checked(_audio_format)] = Field(None, examples=list(AUDIO_FORMATS))

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise refusal("{where} must be an object with 'data' (base64) and 'format'")
        return _fill(data, ("data",))


class InputAudioPart(BaseModel):
    """`{"type": "input_audio", "input_audio": {"data": base64, "format": "wav"}}` (user or human messages)."""

    type: Literal["input_audio"]
    input_audio: InputAudio

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data: Any) -> Any:
        return _fill(data, ("input_audio",))


def _known_part(part: Any) -> Any:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "audio_url":
        raise refusal("{where}: audio URLs are not fetched by this server; send the audio itself as an "
                      "input_audio part (base64)")
    if kind not in PART_TYPES:
        got = f"type {short(kind)}" if isinstance(part, dict) else json_type(part)
        raise refusal(f"{{where}}: unknown content part ({got}); accepted part types: {', '.join(PART_TYPES)}",
                      suffix=".type")
    return part


ContentPart = Annotated[
    Union[Annotated[TextPart, Tag("a text part")], Annotated[InputAudioPart, Tag("an audio part")]],
    Discriminator(lambda p: "a text part" if p.get("type") == "text" else "an audio part"),
    BeforeValidator(_known_part)]


def _content_form(value: Any) -> Any:
    if value is not None and not isinstance(value, (str, list)):
        raise refusal(f"{{where}} must be a string or a list of parts, got {json_type(value)}")
    return value


Content = Annotated[
    Union[Annotated[str, Tag("a string")], Annotated[list[ContentPart], Tag("a list of parts")]],
    Discriminator(lambda c: "a string" if isinstance(c, str) else "a list of parts")]


# -- messages ---------------------------------------------------------------------------------------
def _role(value: Any) -> str:
    if value not in ROLES:
        raise refusal(f"{{where}} must be one of {', '.join(ROLES)}, got {short(value)}")
    return value


def _eot(value: Any) -> bool:
    return True if value is None else checked_flag(value)


class Message(BaseModel):
    """A turn: `role` (the official client's `human` is `user`), `content` (a string or parts; may be null in an
    assistant turn), and `eot` (false on a final assistant prefill that the model continues)."""

    role: Annotated[Literal[ROLES], BeforeValidator(_role)]
    content: Annotated[Content | None, BeforeValidator(_content_form)]
    eot: Annotated[bool | None, BeforeValidator(_eot)] = None

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise refusal(f"{{where}} must be an object with 'role' and 'content', got {json_type(data)}")
        return _fill(data, ("role", "content"))

    @model_validator(mode="after")
    def _content_fits_role(self) -> Message:
        if self.content is None and self.role != "assistant":
            raise refusal(f"{{where}}.content is required for role {self.role!r}: a string or a list of parts",
                          suffix=".content")
        for j, part in enumerate(self.content if isinstance(self.content, list) else ()):
            if isinstance(part, InputAudioPart) and self.role not in AUDIO_ROLES:
                raise refusal(f"{{where}}.content[{j}]: audio is accepted in user (or human) messages only, not "
                              f"in role {self.role!r}", suffix=f".content[{j}]")
        return self

    def plain(self) -> dict:
        """The message as the renderer takes it (`eot` only where the client sent it)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content if not isinstance(self.content, list)
                               else [part.model_dump() for part in self.content]}
        if "eot" in self.model_fields_set:
            out["eot"] = self.eot
        return out


def _message_list(value: Any) -> Any:
    if value is _ABSENT:
        raise refusal("'messages' is required: a non-empty list of {role, content} objects")
    if not isinstance(value, list) or not value:
        got = json_type(value) if value != [] else "an empty list"
        raise refusal(f"'messages' must be a non-empty list of {{role, content}} objects, got {got}")
    return value


def audio_parts(messages: list[Message]) -> list[tuple[int, int, InputAudioPart]]:
    """(message index, part index, part) of every audio part, in order."""
    return [(i, j, part) for i, m in enumerate(messages) if isinstance(m.content, list)
            for j, part in enumerate(m.content) if isinstance(part, InputAudioPart)]


def _audio_limits(messages: list[Message], info: ValidationInfo) -> list[Message]:
    audio = audio_parts(messages)
    most, largest = info.context["max_audio_parts"], info.context["max_audio_bytes"]
    if len(audio) > most:
        raise refusal(f"the request has {len(audio)} audio parts; at most {most} are accepted per request")
    for i, j, part in audio:
        if len(part.input_audio.data) * 3 // 4 > largest:
            raise refusal(f"audio part is larger than the limit of {largest} bytes",
                          suffix=f"[{i}].content[{j}].input_audio.data")
    return messages


# -- sampling and the rest --------------------------------------------------------------------------
def _stop(value: Any) -> Any:
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or len(stops) > MAX_STOP_STRINGS or not all(isinstance(s, str) and s for s in stops):
        raise refusal(f"{{where}} must be a non-empty string or a list of at most {MAX_STOP_STRINGS} of them")
    return value


def _stop_token_ids(value: Any, info: ValidationInfo) -> Any:
    vocab = info.context["vocab_size"]
    if value is not None and (not isinstance(value, list) or len(value) > MAX_STOP_TOKEN_IDS
                              or not all(is_int(t) and 0 <= t < vocab for t in value)):
        raise refusal(f"{{where}} must be a list of at most {MAX_STOP_TOKEN_IDS} token ids in [0, {vocab})")
    return value


def _effort(value: Any) -> str:
    if not isinstance(value, str) or value not in REASONING_EFFORT_BUDGETS:
        raise refusal(f"{{where}} {short(value)} is not accepted; accepted: {', '.join(REASONING_EFFORT_BUDGETS)}")
    return value


def _stream_options(value: Any) -> Any:
    if not isinstance(value, dict):
        raise refusal('{where} must be an object such as {"include_usage": true}')
    return value


def _tool_choice(value: Any) -> str:
    if value not in ("none", "auto") or not isinstance(value, str):
        raise refusal("{where} must be 'none' or 'auto' (tool calls are not parsed by this server)")
    return value


def _tools(value: Any) -> list:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise refusal("{where} must be a list of tool schema objects")
    return value


def _only_zero(value: Any) -> float:
    if value not in (0, 0.0):
        raise refusal("{where} is not supported (only 0); use repetition_penalty")
    return 0.0


def _no_logprobs(value: Any) -> Any:
    if value not in (False, 0):
        raise refusal("logprobs are not supported by this server", param="logprobs")
    return value


def _text_response(value: Any) -> Any:
    if value != {"type": "text"}:
        raise refusal('{where} must be {"type": "text"}; structured output is not supported')
    return value


class StreamOptions(BaseModel):
    """`{"include_usage": true}`: a last chunk with the token counts."""

    include_usage: Flag = False


class ResponseFormat(BaseModel):
    """Only plain text: structured output is not supported."""

    type: Literal["text"]


class ChatCompletionRequest(BaseModel):
    """The body of `POST /v1/chat/completions`: OpenAI's fields, vLLM's extensions (`top_k`,
    `repetition_penalty`, `stop_token_ids`, `continue_final_message`, ...) and the thinking budget
    (`thinking_budget`, its alias `max_reasoning_tokens`, or `reasoning_effort`; at most one of them)."""

    model: str | None = Field(None, description="the served model name (optional; another name is a 404)")
    messages: Annotated[list[Message], BeforeValidator(_message_list), AfterValidator(_audio_limits)]
    temperature: Number(0.0, MAX_TEMPERATURE) = 1.0
    top_p: Number(0.0, 1.0, low_open=True) = 1.0
    top_k: Integer(-1, high_from="vocab_size") = Field(0, description="0 or -1: no top-k cut")
    repetition_penalty: Number(0.0, MAX_REPETITION_PENALTY, low_open=True) = 1.0
    n: Integer(1, high_from="max_n") = Field(1, description="samples per request, at most the server's max_n")
    seed: Integer(0, 2**63 - 1, optional=True) = None
    stop: Annotated[str | list[str] | None, checked(_stop)] = None
    stop_token_ids: Annotated[list[int] | None, BeforeValidator(_stop_token_ids)] = None
    thinking_budget: Integer(0, optional=True) = Field(
        None, description="reasoning tokens before the answer is forced (0: answer at once; null: unlimited)")
    max_reasoning_tokens: Integer(0, optional=True) = Field(None, description="another name of thinking_budget")
    reasoning_effort: Annotated[Literal[tuple(REASONING_EFFORT_BUDGETS)] | None, checked(_effort)] = Field(
        None, validate_default=True, description="a thinking budget by name: " + ", ".join(
            f"{k} = {'unlimited' if v is None else v}" for k, v in REASONING_EFFORT_BUDGETS.items()))
    max_completion_tokens: Integer(1, optional=True) = Field(None, description="wins over max_tokens")
    max_tokens: Integer(1, optional=True) = Field(None, description="null: the server's default")
    stream: Flag = False
    stream_options: Annotated[StreamOptions | None, checked(_stream_options)] = None
    include_reasoning: Flag = Field(True, description="false: no reasoning_content in the response")
    add_generation_prompt: Flag = True
    continue_final_message: Flag = Field(False, description="continue the last (assistant) message, e.g. the "
                                                            "official client's '<think>\\n' prefill")
    skip_special_tokens: Flag = Field(True, description="accepted; stop tokens never reach the text anyway")
    tool_choice: Annotated[Literal["none", "auto"] | None, checked(_tool_choice)] = None
    tools: Annotated[list[dict[str, Any]] | None, checked(_tools)] = Field(None, validate_default=True)
    presence_penalty: Annotated[float | None, checked(_only_zero)] = Field(None, description="only 0")
    frequency_penalty: Annotated[float | None, checked(_only_zero)] = Field(None, description="only 0")
    logprobs: Annotated[bool | None, checked(_no_logprobs)] = Field(None, description="only false")
    top_logprobs: Annotated[int | None, checked(_no_logprobs)] = Field(None, description="only 0")
    response_format: Annotated[ResponseFormat | None, checked(_text_response)] = None

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise refusal(f"the request body must be a JSON object, got {json_type(data)}")
        return _fill(data, ("messages",), _ABSENT)

    @field_validator("model", mode="before")
    @classmethod
    def _served(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.context["model_name"]
        if value is not None and value != name:
            shown = repr(value)[:100] if isinstance(value, str) else json_type(value)
            raise refusal(f"The model {shown} does not exist; this server serves `{name}`", status=404)
        return value

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _superseded(cls, value: Any, info: ValidationInfo) -> Any:
        # max_completion_tokens is OpenAI's newer name: when it is sent, max_tokens is not looked at.
        return None if info.data.get("max_completion_tokens") is not None else value

    @field_validator("reasoning_effort", mode="after")
    @classmethod
    def _one_budget(cls, value: str | None, info: ValidationInfo) -> str | None:
        sent = {**info.data, "reasoning_effort": value}
        given = [name for name in BUDGET_FIELDS if sent.get(name) is not None]
        if len(given) > 1:
            raise refusal(f"give one of thinking_budget, max_reasoning_tokens and reasoning_effort, not "
                          f"{' and '.join(given)}", param=given[1])
        return value

    @field_validator("tools", mode="after")
    @classmethod
    def _tools_and_text(cls, tools: list | None, info: ValidationInfo) -> list | None:
        if not tools and info.data.get("tool_choice") == "auto":
            raise refusal("tool_choice 'auto' needs a non-empty 'tools' list", param="tool_choice")
        limit, messages = info.context.get("max_text_chars"), info.data.get("messages")
        if limit is not None and messages is not None and (total := text_chars(messages, tools)) > limit:
            raise refusal(f"the request's text is {total} characters; at most {limit} are accepted (the limit "
                          f"follows from this model's context length), send a shorter text", param="messages")
        return tools

    def thinking_budget_tokens(self) -> int | None:
        """The thinking budget in reasoning tokens, whichever field gave it (None: unlimited)."""
        if self.reasoning_effort is not None:
            return REASONING_EFFORT_BUDGETS[self.reasoning_effort]
        return self.thinking_budget if self.thinking_budget is not None else self.max_reasoning_tokens


def text_chars(messages: list[Message], tools: list | None) -> int:
    """Characters of all text (messages and tools), counted before anything is tokenized."""
    total = len(json.dumps(tools, ensure_ascii=False)) if tools else 0
    for m in messages:
        if isinstance(m.content, str):
            total += len(m.content)
        elif isinstance(m.content, list):
            total += sum(len(p.text) for p in m.content if isinstance(p, TextPart))
    return total
