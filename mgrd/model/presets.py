"""Ready-made small configurations: the tiny model of the quickstart and the micro model of tests."""

from __future__ import annotations

from collections.abc import Sequence

from mgrd.model.build import build_model
from mgrd.model.config import AdaptorConfig, AudioLMConfig, AudioTokenIds, EncoderConfig, TextConfig

__all__ = ["tiny_config", "micro_config", "build_model"]


# The context limit of the tiny models: the released checkpoints' 65,536. Rotary positions have no
# table to train or store, so the limit changes no weight and no output; the KV cache is sized per
# request, so a long limit costs nothing until a request uses it (the official client asks for
# max_tokens 32000).
TINY_MAX_POSITIONS = 65536


def tiny_config(vocab_size: int, *, audio_token_ids: AudioTokenIds, eos_token_ids: Sequence[int] = (),
                pad_token_id: int | None = None) -> AudioLMConfig:
    """The quickstart model (~4 M parameters with a few-hundred-token vocabulary), float32.

    Encoder d 128 (4 heads, 3 blocks) on the full 128-mel / 1500-position frontend; the adaptor's
    hidden layer is 512 wide instead of the official 2048, in proportion to the small encoder;
    Qwen2 decoder hidden 256 x 4 layers (4 heads, 2 kv heads), rope_theta 1e6.
    """
    hidden = 256
    return AudioLMConfig(
        text=TextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=768, num_hidden_layers=4,
                        num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6,
                        max_position_embeddings=TINY_MAX_POSITIONS, eos_token_id=tuple(eos_token_ids),
                        pad_token_id=pad_token_id, torch_dtype="float32"),
        encoder=EncoderConfig(n_mels=128, n_audio_ctx=1500, n_audio_state=128, n_audio_head=4, n_audio_layer=3),
        adaptor=AdaptorConfig(llm_dim=hidden, n_audio_state=128, adapter_state=512),
        audio_token_ids=audio_token_ids)


def micro_config(vocab_size: int = 64, *, audio_token_ids: AudioTokenIds | None = None,
                 eos_token_ids: Sequence[int] = (), pad_token_id: int | None = None) -> AudioLMConfig:
    """A model of a few tens of thousands of parameters for unit tests.

    Encoder d 32 (2 heads, 1 block, 64 positions: at most 128 mel frames); decoder hidden 32 x 2
    layers (4 heads, 2 kv heads). Audio token ids default to the last three ids of the vocabulary.
    """
    if audio_token_ids is None:
        audio_token_ids = AudioTokenIds(start=vocab_size - 3, end=vocab_size - 2, patch=vocab_size - 1)
    hidden = 32
    return AudioLMConfig(
        text=TextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e4,
                        max_position_embeddings=256, eos_token_id=tuple(eos_token_ids),
                        pad_token_id=pad_token_id, torch_dtype="float32"),
        encoder=EncoderConfig(n_mels=128, n_audio_ctx=64, n_audio_state=32, n_audio_head=2, n_audio_layer=1),
        adaptor=AdaptorConfig(llm_dim=hidden, n_audio_state=32, adapter_state=64),
        audio_token_ids=audio_token_ids)
