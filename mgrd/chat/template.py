"""The Step-Audio-R1 chat template: a conversation rendered to the exact prompt text the official server builds."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mgrd.chat.special import AUDIO_PATCH, BOT, EOT, GENERATION_PROMPT

AUDIO_PART_TYPES = ("input_audio", "audio_url", "audio")
TEXT_PART_TYPES = ("text",)
CONTENT_FORMATS = ("server", "template")


@dataclass(frozen=True)
class Segment:
    """A piece of rendered text.

    `trainable` marks assistant content (where a training loss is taken); `audio_parts` holds
    the (message index, part index) of each `<audio_patch>` placeholder in `text`, in order.
    """

    text: str
    trainable: bool = False
    audio_parts: tuple[tuple[int, int], ...] = ()


def render(messages: Sequence[Mapping[str, Any]], *, tools: Any = None, add_generation_prompt: bool = True,
           continue_final_message: bool = False, content_format: str = "server") -> str:
    """The prompt text of `messages`, exactly as the official R1 server renders it.

    Message content may be a string, a `{"value"|"text": str}` dict, a list of OpenAI-style
    parts, or None. `content_format="server"` flattens part lists as the official vLLM server
    does (`--interleave-mm-strings`: parts joined with "\\n", then the newline after each
    `<audio_patch>` removed); `"template"` uses the template's own list branch (plain
    concatenation; `text` and `audio` parts only).

    Quirks reproduced from the template: `user` is written `human`; past assistant turns get
    no `<|EOT|>`; `function_output` messages render nothing; with `tools` and no system message
    the system turn is left open. As the official client does, a final assistant message with
    content None is dropped (and the generation prompt added), and a final assistant message
    with `"eot": False` or `continue_final_message=True` is left open with no generation prompt.

    Example: `[{"role": "user", "content": [{"type": "text", "text": "T"}, {"type": "audio"}]}]`
    renders `<|BOT|>human\\nT\\n<audio_patch><|EOT|><|BOT|>assistant\\n<think>\\n`.
    """
    return "".join(s.text for s in render_segments(
        messages, tools=tools, add_generation_prompt=add_generation_prompt,
        continue_final_message=continue_final_message, content_format=content_format))


def render_segments(messages: Sequence[Mapping[str, Any]], *, tools: Any = None, add_generation_prompt: bool = True,
                    continue_final_message: bool = False, content_format: str = "server") -> list[Segment]:
    """`render` as segments: joined, they are `render`'s text; assistant content is its own segment."""
    if content_format not in CONTENT_FORMATS:
        raise ValueError(f"unknown content_format {content_format!r}; accepted: {', '.join(CONTENT_FORMATS)}")
    messages = _checked_messages(messages)
    final = messages[-1]
    if final["role"] == "assistant" and final.get("content") is None:
        messages, add_generation_prompt = messages[:-1], True
        if not messages:
            raise ValueError("messages hold only an assistant message with content None: nothing to render")
    elif continue_final_message or (final["role"] == "assistant" and final.get("eot", True) is False):
        if final["role"] != "assistant":
            raise ValueError(f"continue_final_message needs the last message to be an assistant message, "
                             f"got role {final['role']!r}")
        add_generation_prompt = False

    segments = _header(messages, tools, content_format)
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "function_output" or (i == 0 and role == "system"):
            continue
        text, audio = render_content(message.get("content"), i, content_format)
        if role == "assistant":
            segments.append(Segment(f"{BOT}assistant\n"))
            if text:
                segments.append(Segment(text, trainable=True, audio_parts=audio))
        else:
            tag = "human" if role == "user" else role
            segments.append(Segment(f"{BOT}{tag}\n{text}{EOT}", audio_parts=audio))
    if add_generation_prompt:
        segments.append(Segment(GENERATION_PROMPT))
    return segments


def _checked_messages(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise ValueError(f"messages must be a list of dicts, got {type(messages).__name__}")
    if not messages:
        raise ValueError("messages is empty; a conversation needs at least one message")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            raise ValueError(f"message {i} must be a dict with 'role' and 'content', got {type(m).__name__}")
        if not isinstance(m.get("role"), str):
            raise ValueError(f"message {i} has no 'role' string (roles: system, user/human, assistant, tool, ...)")
    return list(messages)


def _header(messages: list[Mapping[str, Any]], tools: Any, content_format: str) -> list[Segment]:
    """The system turn (and tool schemas), which the template writes before the message loop."""
    system = messages[0] if messages[0]["role"] == "system" else None
    sys_text, sys_audio = render_content(system.get("content"), 0, content_format) if system else ("", ())
    if not tools:
        return [Segment(f"{BOT}system\n{sys_text}{EOT}", audio_parts=sys_audio)] if system else []
    try:
        schemas = json.dumps(tools, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"tools must be JSON-serialisable (a list of tool schemas): {e}") from None
    if AUDIO_PATCH in schemas:
        raise ValueError(f"tools may not contain the audio placeholder {AUDIO_PATCH}")
    # Without a system message the template leaves `<|BOT|>system\n` unterminated: kept on purpose.
    head = f"{BOT}system\n" + (f"{sys_text}{EOT}" if system else "")
    return [Segment(head, audio_parts=sys_audio), Segment(f"{BOT}tool_json_schemas\n{schemas}{EOT}")]


def render_content(content: Any, message_index: int = 0,
                   content_format: str = "server") -> tuple[str, tuple[tuple[int, int], ...]]:
    """The rendered text of one message's content and the (message, part) index of each audio placeholder.

    In string (and dict) content every `<audio_patch>` is an audio part, numbered by occurrence.
    """
    if content is None:
        return "", ()
    if isinstance(content, str):
        text = content.replace(f"{AUDIO_PATCH}\n", AUDIO_PATCH)
    elif isinstance(content, Mapping):
        text = content["value"] if "value" in content else content.get("text")
        if not isinstance(text, str):
            raise ValueError(f"message {message_index}: dict content needs a string 'value' or 'text'")
    elif isinstance(content, list):
        return _parts(content, message_index, content_format)
    else:
        raise ValueError(f"message {message_index}: content must be a str, a dict, a list of parts or None, "
                         f"got {type(content).__name__}")
    return text, tuple((message_index, k) for k in range(text.count(AUDIO_PATCH)))


def _parts(parts: list, message_index: int, content_format: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    accepted = TEXT_PART_TYPES + (AUDIO_PART_TYPES if content_format == "server" else ("audio",))
    pieces, audio = [], []
    for p, part in enumerate(parts):
        where = f"message {message_index}, part {p}"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in accepted:
            got = f"type {kind!r}" if isinstance(part, Mapping) else type(part).__name__
            hint = " (content_format='template' keeps only 'audio' parts, as the template does)" \
                if kind in AUDIO_PART_TYPES else ""
            raise ValueError(f"{where}: a part must be a dict with 'type' one of {', '.join(accepted)}, "
                             f"got {got}{hint}")
        if kind in AUDIO_PART_TYPES:
            pieces.append(AUDIO_PATCH)
            audio.append((message_index, p))
            continue
        text = part["value"] if "value" in part else part.get("text")
        if not isinstance(text, str):
            raise ValueError(f"{where}: a text part needs a string 'text' (or 'value'), got {type(text).__name__}")
        if AUDIO_PATCH in text:
            raise ValueError(f"{where}: text may not contain {AUDIO_PATCH}; give audio as a part of type "
                             f"{', '.join(AUDIO_PART_TYPES)}")
        pieces.append(text)
    if content_format == "template":
        return "".join(pieces), tuple(audio)
    return "\n".join(pieces).replace(f"{AUDIO_PATCH}\n", AUDIO_PATCH), tuple(audio)
