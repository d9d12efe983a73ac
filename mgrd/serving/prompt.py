"""From a validated request to an engine `Prompt`: strict base64, bounded audio decoding, chunking, rendering."""

from __future__ import annotations

from mgrd.audio import SAMPLE_RATE, AudioError, load_audio
from mgrd.inference import AudioLimits, Prompt, build_prompt, decode_base64_audio
from mgrd.serving.errors import APIError
from mgrd.serving.schema import ChatRequest
from mgrd.serving.settings import ServerSettings


def build_request_prompt(request: ChatRequest, tokenizer, settings: ServerSettings, *,
                         max_mel_frames: int | None = None) -> Prompt:
    """Decode every audio part (size checked before decoding), then render and tokenize the conversation.

    Each part is decoded here, one at a time, so that an error names the part; the samples (16 kHz
    mono) then go through the foundation's `build_prompt`, which chunks them at 25 s.
    `max_mel_frames` is what the model's audio encoder accepts per chunk (None: no check).
    Raises APIError 400 for any input the frontend or the template refuses.
    """
    messages = [dict(m) for m in request.messages]
    for i, j in request.audio_parts:
        at = f"messages[{i}].content[{j}].input_audio"
        body = messages[i]["content"][j]["input_audio"]
        try:
            raw = decode_base64_audio(body["data"], settings.max_audio_bytes)
        except AudioError as e:
            raise APIError(400, f"{at}.data: {e}", param=f"{at}.data") from None
        try:
            samples = load_audio(raw, max_bytes=settings.max_audio_bytes, max_seconds=settings.max_audio_seconds)
        except AudioError as e:
            raise APIError(400, f"{at}: {e}", param=f"{at}.data") from None
        del raw
        if messages[i]["content"] is request.messages[i]["content"]:
            messages[i]["content"] = list(messages[i]["content"])
        messages[i]["content"][j] = {"type": "audio", "audio": {"array": samples, "sampling_rate": SAMPLE_RATE}}
    limits = AudioLimits(max_bytes=settings.max_audio_bytes, max_seconds=settings.max_audio_seconds,
                         max_parts=settings.max_audio_parts, max_total_seconds=settings.max_total_audio_seconds)
    try:
        prompt = build_prompt(messages, tokenizer, tools=request.tools, limits=limits,
                              add_generation_prompt=request.add_generation_prompt,
                              continue_final_message=request.continue_final_message,
                              text_special_tokens=settings.allow_special_tokens)
    except (AudioError, ValueError, TypeError) as e:
        raise APIError(400, str(e), param="messages") from None
    if max_mel_frames is not None:
        for mel in prompt.audio_mels:
            if mel.shape[-1] > max_mel_frames:
                raise APIError(400, f"an audio chunk of {mel.shape[-1]} mel frames is longer than this model's "
                                    f"audio encoder accepts ({max_mel_frames} frames); send shorter audio",
                               param="messages")
    return prompt
