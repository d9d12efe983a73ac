"""The Step-Audio-2-family model: config, encoder, adaptor, AudioLM and checkpoint load/save."""

from mgrd.model.adaptor import AudioAdaptor
from mgrd.model.audiolm import CACHE_KWARG, AudioLM, output_cache
from mgrd.model.build import build_model, empty_model, init_weights, restore_buffers
from mgrd.model.checkpoint import (load_pretrained, read_audio_token_ids, require_model_dir, save_pretrained,
                                   weight_files)
from mgrd.model.lora import is_adapter_dir
from mgrd.model.config import (
    ACCEPTED_MODEL_TYPES,
    AdaptorConfig,
    AudioLMConfig,
    AudioTokenIds,
    EncoderConfig,
    TextConfig,
    read_config,
    write_config,
)
from mgrd.model.encoder import AudioEncoder
from mgrd.model.presets import micro_config, tiny_config

__all__ = [
    "ACCEPTED_MODEL_TYPES", "CACHE_KWARG", "AdaptorConfig", "AudioAdaptor", "AudioEncoder", "AudioLM",
    "AudioLMConfig", "AudioTokenIds", "EncoderConfig", "TextConfig", "build_model", "empty_model",
    "init_weights", "is_adapter_dir", "load_pretrained", "micro_config", "output_cache", "read_audio_token_ids",
    "read_config", "require_model_dir", "restore_buffers", "save_pretrained", "tiny_config", "weight_files", "write_config",
]
