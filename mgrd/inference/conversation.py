"""From chat messages with audio (paths, bytes, arrays or base64 parts) to an engine `Prompt`.

Each audio part is decoded with the frontend's limits, split into ≤25 s chunks, and every chunk
becomes its own audio placeholder — exactly what the official client does by sending one
`input_audio` part per chunk.
"""

from __future__ import annotations

import base64
import binascii
import copy
from dataclasses import dataclass

import numpy as np

from mgrd.audio import (DEFAULT_MAX_BYTES, DEFAULT_MAX_SECONDS, AudioError, load_audio, log_mel,
                        num_audio_tokens, split_chunks)
from mgrd.chat import encode_prompt
from mgrd.inference.engine import Prompt

AUDIO_PART_TYPES = ("audio", "input_audio", "audio_url")


@dataclass(frozen=True)
class AudioLimits:
    """Bounds on the audio of one conversation."""

    max_bytes: int = DEFAULT_MAX_BYTES          # per audio part, encoded
    max_seconds: float = DEFAULT_MAX_SECONDS    # per audio part
    max_parts: int = 16                         # audio parts in the conversation
    max_total_seconds: float = 1800.0


def decode_base64_audio(data: str, max_bytes: int) -> bytes:
    """Strictly decode base64 audio, checking the size before decoding anything."""
    if not isinstance(data, str) or not data:
        raise AudioError("input_audio.data must be a non-empty base64 string")
    if data.startswith("data:"):
        _, sep, data = data.partition(",")
        if not sep:
            raise AudioError("input_audio.data is a data URL without a ',' before the payload")
    if len(data) * 3 // 4 > max_bytes:
        raise AudioError(f"audio is larger than the limit of {max_bytes} bytes")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise AudioError("input_audio.data is not valid base64 (standard alphabet, padded)") from None


def _part_source(part: dict, where: str, limits: AudioLimits):
    kind = part.get("type")
    if kind == "audio_url":
        raise AudioError(f"{where}: audio URLs are not fetched; send the audio as an input_audio base64 part")
    if kind == "input_audio":
        body = part.get("input_audio")
        if not isinstance(body, dict):
            raise AudioError(f"{where}: input_audio must be an object with 'data' (base64) and 'format'")
        return decode_base64_audio(body.get("data"), limits.max_bytes)
    source = part.get("audio")
    if source is None:
        raise AudioError(f"{where}: audio part has no data; give 'audio' (a path, bytes or an array)")
    if isinstance(source, dict) and "array" in source:
        return np.asarray(source["array"]), int(source["sampling_rate"])
    return source


def expand_audio(messages: list[dict], *, limits: AudioLimits = AudioLimits()
                 ) -> tuple[list[dict], list, list[int]]:
    """Decode, chunk and featurise every audio part of `messages`.

    Returns the messages with each audio part replaced by one `{"type": "audio"}` placeholder
    per chunk, the log-mel chunks `[128, T_i]` in prompt order, and their audio token counts.
    Training data (`encode`) and prompts (`encode_prompt`) both expand audio through here.
    """
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list")
    messages = copy.copy(messages)
    mels, counts, total_seconds, parts_seen = [], [], 0.0, 0
    for mi, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        new_content = []
        for pi, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") in AUDIO_PART_TYPES):
                new_content.append(part)
                continue
            parts_seen += 1
            if parts_seen > limits.max_parts:
                raise AudioError(f"too many audio parts: at most {limits.max_parts} per conversation")
            where = f"messages[{mi}].content[{pi}]"
            samples = load_audio(_part_source(part, where, limits), max_bytes=limits.max_bytes,
                                 max_seconds=limits.max_seconds)
            total_seconds += len(samples) / 16000
            if total_seconds > limits.max_total_seconds:
                raise AudioError(f"total audio exceeds {limits.max_total_seconds:g} s per conversation")
            for chunk in split_chunks(samples):
                mel = log_mel(chunk)
                mels.append(mel)
                counts.append(num_audio_tokens(mel.shape[-1]))
                new_content.append({"type": "audio"})
        messages[mi] = {**message, "content": new_content}
    return messages, mels, counts


def build_prompt(messages: list[dict], tokenizer, *, tools: list | None = None,
                 limits: AudioLimits = AudioLimits(), add_generation_prompt: bool = True,
                 continue_final_message: bool = False, text_special_tokens: bool = True) -> Prompt:
    """Decode, chunk and featurise the audio of `messages`, render and tokenize the prompt.

    `text_special_tokens=False` encodes special-token strings in the text as plain text (see `encode_prompt`).
    """
    messages, mels, counts = expand_audio(messages, limits=limits)
    encoded = encode_prompt(messages, counts, tokenizer, tools=tools, add_generation_prompt=add_generation_prompt,
                            continue_final_message=continue_final_message, text_special_tokens=text_special_tokens)
    return Prompt(tuple(encoded.input_ids), tuple(mels))
