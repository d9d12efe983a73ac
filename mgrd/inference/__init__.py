"""Generation: sampling options, the native engine (KV cache, batching, thinking budget, streaming)."""

from mgrd.inference.conversation import AudioLimits, build_prompt, decode_base64_audio
from mgrd.inference.engine import Engine, Generation, Prompt, StreamEvent
from mgrd.inference.sampling import SamplingParams

__all__ = ["AudioLimits", "Engine", "Generation", "Prompt", "SamplingParams", "StreamEvent",
           "build_prompt", "decode_base64_audio"]
