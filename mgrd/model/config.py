"""Typed configuration of a Step-Audio-2-family model and its config.json layouts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mgrd.io import write_json_atomic

NESTED_MODEL_TYPE = "step_audio_2"
FLAT_MODEL_TYPE = "step_audio_qwen2"
ACCEPTED_MODEL_TYPES = (NESTED_MODEL_TYPE, FLAT_MODEL_TYPE)
OFFICIAL_ADAPTER_STATE = 2048  # hard-coded in the official adaptor, absent from its config
OFFICIAL_CODEBOOK_SIZE = 4096  # written for compatibility; unused by the text model
CONFIG_NAME = "config.json"

# Keys of the flat layout that belong to the language model (format reference §1.1).
_FLAT_TEXT_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                   "num_attention_heads", "num_attention_groups", "num_key_value_heads",
                   "hidden_act", "max_position_embeddings", "max_seq_len", "initializer_range",
                   "rms_norm_eps", "rope_theta", "rope_parameters", "rope_scaling",
                   "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id",
                   "torch_dtype", "dtype", "use_sliding_window")


@dataclass(frozen=True)
class AudioTokenIds:
    """Ids of `<audio_start>`, `<audio_end>` and `<audio_patch>` in the vocabulary."""

    start: int = 151688
    end: int = 151689
    patch: int = 151690

    @classmethod
    def of(cls, special) -> AudioTokenIds:
        """The ids a tokenizer's special tokens give (`tokenizer.special`: audio_start, audio_end, audio_patch)."""
        return cls(int(special.audio_start), int(special.audio_end), int(special.audio_patch))


@dataclass(frozen=True)
class EncoderConfig:
    """Whisper-style audio encoder: 128 log-mels at 100 Hz in, n_audio_state features at 25 Hz out."""

    n_mels: int = 128
    n_audio_ctx: int = 1500
    n_audio_state: int = 1280
    n_audio_head: int = 20
    n_audio_layer: int = 32

    def __post_init__(self) -> None:
        _require_positive(self, ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer"))
        if self.n_audio_state % self.n_audio_head:
            raise ValueError(f"n_audio_state ({self.n_audio_state}) must be divisible by "
                             f"n_audio_head ({self.n_audio_head})")


@dataclass(frozen=True)
class AdaptorConfig:
    """Audio-to-LLM adaptor: conv (kernel_size, adapter_stride) + two linears to llm_dim (12.5 Hz)."""

    llm_dim: int
    n_audio_state: int = 1280
    kernel_size: int = 3
    adapter_stride: int = 2
    adapter_state: int = OFFICIAL_ADAPTER_STATE

    def __post_init__(self) -> None:
        _require_positive(self, ("llm_dim", "n_audio_state", "kernel_size", "adapter_stride", "adapter_state"))


@dataclass(frozen=True)
class TextConfig:
    """Dimensions of the Qwen2 decoder (a plain Qwen2ForCausalLM with an untied lm_head)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1e6
    max_position_embeddings: int = 16384
    hidden_act: str = "silu"
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02
    bos_token_id: int | None = None
    eos_token_id: tuple[int, ...] = ()
    pad_token_id: int | None = None
    torch_dtype: str = "bfloat16"

    def __post_init__(self) -> None:
        _require_positive(self, ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                 "num_attention_heads", "num_key_value_heads", "max_position_embeddings"))
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads})")
        if self.tie_word_embeddings:
            raise ValueError("tie_word_embeddings=True is not supported: Step-Audio checkpoints have a "
                             "separate lm_head.weight; accepted: False")
        object.__setattr__(self, "eos_token_id", _as_id_tuple(self.eos_token_id))
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id {self.pad_token_id} is outside the vocabulary "
                             f"[0, {self.vocab_size}); accepted: an id in range or None")

    def to_qwen2_config(self):
        """The equivalent `transformers.Qwen2Config` (full attention, no sliding window)."""
        from transformers import Qwen2Config

        kwargs: dict[str, Any] = dict(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, num_key_value_heads=self.num_key_value_heads,
            hidden_act=self.hidden_act, max_position_embeddings=self.max_position_embeddings,
            initializer_range=self.initializer_range, rms_norm_eps=self.rms_norm_eps,
            tie_word_embeddings=False, use_sliding_window=False, bos_token_id=self.bos_token_id,
            eos_token_id=list(self.eos_token_id) or None, pad_token_id=self.pad_token_id,
            architectures=["Qwen2ForCausalLM"])
        # transformers 5 keeps rope_theta inside rope_parameters; a bare rope_theta kwarg is
        # converted there too, but passing the structured form avoids relying on that shim.
        if _qwen2_has_rope_parameters():
            kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": float(self.rope_theta)}
        else:
            kwargs["rope_theta"] = float(self.rope_theta)
        qc = Qwen2Config(**kwargs)
        if qwen2_rope_theta(qc) != float(self.rope_theta):
            raise RuntimeError(f"transformers did not keep rope_theta={self.rope_theta} in its Qwen2Config")
        return qc

    @classmethod
    def from_qwen2_config(cls, qc, *, torch_dtype: str = "bfloat16") -> TextConfig:
        """The TextConfig of a `transformers.Qwen2Config` (e.g. of an assembled decoder)."""
        return cls(vocab_size=qc.vocab_size, hidden_size=qc.hidden_size,
                   intermediate_size=qc.intermediate_size, num_hidden_layers=qc.num_hidden_layers,
                   num_attention_heads=qc.num_attention_heads,
                   num_key_value_heads=qc.num_key_value_heads or qc.num_attention_heads,
                   rms_norm_eps=qc.rms_norm_eps, rope_theta=qwen2_rope_theta(qc),
                   max_position_embeddings=qc.max_position_embeddings, hidden_act=qc.hidden_act,
                   tie_word_embeddings=bool(qc.tie_word_embeddings),
                   initializer_range=qc.initializer_range, bos_token_id=qc.bos_token_id,
                   eos_token_id=_as_id_tuple(qc.eos_token_id), pad_token_id=qc.pad_token_id,
                   torch_dtype=torch_dtype)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


@dataclass(frozen=True)
class AudioLMConfig:
    """The whole model: Qwen2 decoder + audio encoder + adaptor + the ids that splice audio in."""

    text: TextConfig
    encoder: EncoderConfig
    adaptor: AdaptorConfig
    audio_token_ids: AudioTokenIds = field(default_factory=AudioTokenIds)

    def __post_init__(self) -> None:
        if self.adaptor.n_audio_state != self.encoder.n_audio_state:
            raise ValueError(f"adaptor n_audio_state ({self.adaptor.n_audio_state}) must equal the "
                             f"encoder's n_audio_state ({self.encoder.n_audio_state})")
        if self.adaptor.llm_dim != self.text.hidden_size:
            raise ValueError(f"adaptor llm_dim ({self.adaptor.llm_dim}) must equal the decoder "
                             f"hidden_size ({self.text.hidden_size})")
        ids = (self.audio_token_ids.start, self.audio_token_ids.end, self.audio_token_ids.patch)
        if len(set(ids)) != 3 or not all(0 <= i < self.text.vocab_size for i in ids):
            raise ValueError(f"audio token ids {ids} must be 3 distinct ids in [0, {self.text.vocab_size})")

    @classmethod
    def from_dict(cls, d: dict, *, audio_token_ids: AudioTokenIds | None = None) -> AudioLMConfig:
        """Parse a config.json dict: nested `step_audio_2` or flat `step_audio_qwen2` layout.

        `auto_map` and other keys of the official remote code are ignored: nothing is imported.
        Audio token ids: `audio_token_ids` if given, else the dict's own `audio_token_ids` key,
        else the official 151688 / 151689 / 151690.
        """
        model_type = d.get("model_type")
        if model_type not in ACCEPTED_MODEL_TYPES:
            raise ValueError(f"unsupported model_type {model_type!r}; accepted: "
                             f"{', '.join(ACCEPTED_MODEL_TYPES)}")
        if "text_config" in d:
            text_d = dict(d["text_config"])
        else:  # flat layout: the LLM keys sit at the top level
            text_d = {k: d[k] for k in _FLAT_TEXT_KEYS if k in d}
        if not any(k in text_d for k in ("torch_dtype", "dtype")):
            text_d["torch_dtype"] = d.get("torch_dtype", d.get("dtype", "bfloat16"))
        if "audio_encoder_config" not in d:
            raise ValueError("config has no 'audio_encoder_config'; accepted: the Step-Audio 2 layouts "
                             "(nested text_config + audio_encoder_config, or flat LLM keys + "
                             "audio_encoder_config)")
        text = _text_from_dict(text_d)
        encoder, adaptor = _audio_from_dict(d["audio_encoder_config"], text.hidden_size)
        if audio_token_ids is None:
            ids_d = d.get("audio_token_ids")
            audio_token_ids = AudioTokenIds(**{k: int(ids_d[k]) for k in ("start", "end", "patch")}) \
                if ids_d else AudioTokenIds()
        return cls(text=text, encoder=encoder, adaptor=adaptor, audio_token_ids=audio_token_ids)

    def to_dict(self) -> dict:
        """The nested official layout, plus `adapter_state` / `audio_token_ids` only when non-official."""
        t = self.text
        text_d: dict[str, Any] = {
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "vocab_size": t.vocab_size, "hidden_size": t.hidden_size,
            "intermediate_size": t.intermediate_size, "num_hidden_layers": t.num_hidden_layers,
            "num_attention_heads": t.num_attention_heads,
            # The official text config asserts num_attention_groups == num_key_value_heads and
            # defaults it to 4, so it must be written out for any other head count.
            "num_attention_groups": t.num_key_value_heads, "num_key_value_heads": t.num_key_value_heads,
            "hidden_act": t.hidden_act, "max_position_embeddings": t.max_position_embeddings,
            "initializer_range": t.initializer_range, "rms_norm_eps": t.rms_norm_eps,
            "rope_theta": t.rope_theta, "rope_scaling": None, "tie_word_embeddings": False,
            "use_sliding_window": False, "eos_token_id": _id_or_list(t.eos_token_id),
            "pad_token_id": t.pad_token_id, "torch_dtype": t.torch_dtype,
        }
        if t.bos_token_id is not None:
            text_d["bos_token_id"] = t.bos_token_id
        e, a = self.encoder, self.adaptor
        audio_d: dict[str, Any] = {
            "n_mels": e.n_mels, "n_audio_ctx": e.n_audio_ctx, "n_audio_state": e.n_audio_state,
            "n_audio_head": e.n_audio_head, "n_audio_layer": e.n_audio_layer,
            "n_codebook_size": OFFICIAL_CODEBOOK_SIZE, "llm_dim": a.llm_dim,
            "kernel_size": a.kernel_size, "adapter_stride": a.adapter_stride,
        }
        if a.adapter_state != OFFICIAL_ADAPTER_STATE:
            audio_d["adapter_state"] = a.adapter_state
        out: dict[str, Any] = {"architectures": ["StepAudio2ForCausalLM"], "model_type": NESTED_MODEL_TYPE,
                               "torch_dtype": t.torch_dtype, "text_config": text_d,
                               "audio_encoder_config": audio_d}
        if self.audio_token_ids != AudioTokenIds():
            ids = self.audio_token_ids
            out["audio_token_ids"] = {"start": ids.start, "end": ids.end, "patch": ids.patch}
        return out


def read_config(directory: str | os.PathLike, *, audio_token_ids: AudioTokenIds | None = None) -> AudioLMConfig:
    """The AudioLMConfig of `directory/config.json` (either layout); see `AudioLMConfig.from_dict`."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} in {directory}; a model directory needs one")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    return AudioLMConfig.from_dict(d, audio_token_ids=audio_token_ids)


def write_config(directory: str | os.PathLike, cfg: AudioLMConfig) -> None:
    """Write `directory/config.json` atomically in the nested official layout."""
    write_json_atomic(Path(directory) / CONFIG_NAME, cfg.to_dict())


def qwen2_rope_theta(qc) -> float:
    """rope_theta of a Qwen2Config, wherever this transformers version keeps it."""
    params = getattr(qc, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    return float(qc.rope_theta)


def _text_from_dict(d: dict) -> TextConfig:
    required = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"text config lacks {', '.join(missing)}; required: {', '.join(required)}")
    kv = d.get("num_key_value_heads", d.get("num_attention_groups"))
    if kv is None:
        raise ValueError("text config needs num_key_value_heads (or num_attention_groups)")
    groups = d.get("num_attention_groups")
    if groups is not None and groups != kv:
        raise ValueError(f"num_attention_groups ({groups}) must equal num_key_value_heads ({kv})")
    if d.get("use_sliding_window"):
        raise ValueError("use_sliding_window=true is not supported; accepted: false (full attention)")
    rope_params = d.get("rope_parameters") or {}
    scaling = d.get("rope_scaling") or rope_params
    if scaling.get("rope_type", scaling.get("type", "default")) != "default":
        raise ValueError(f"rope scaling {scaling} is not supported; accepted: null / rope_type 'default'")
    rope_theta = d.get("rope_theta", rope_params.get("rope_theta", 1e6))
    return TextConfig(
        vocab_size=int(d["vocab_size"]), hidden_size=int(d["hidden_size"]),
        intermediate_size=int(d["intermediate_size"]), num_hidden_layers=int(d["num_hidden_layers"]),
        num_attention_heads=int(d["num_attention_heads"]), num_key_value_heads=int(kv),
        rms_norm_eps=float(d.get("rms_norm_eps", 1e-6)), rope_theta=float(rope_theta),
        max_position_embeddings=int(d.get("max_position_embeddings", d.get("max_seq_len", 16384))),
        hidden_act=d.get("hidden_act") or "silu", tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
        initializer_range=float(d.get("initializer_range") or 0.02), bos_token_id=d.get("bos_token_id"),
        eos_token_id=_as_id_tuple(d.get("eos_token_id")), pad_token_id=d.get("pad_token_id"),
        torch_dtype=str(d.get("torch_dtype", d.get("dtype")) or "bfloat16"))


def _audio_from_dict(d: dict, hidden_size: int) -> tuple[EncoderConfig, AdaptorConfig]:
    enc_names = [f.name for f in fields(EncoderConfig)]
    encoder = EncoderConfig(**{k: int(d[k]) for k in enc_names if k in d})
    adaptor = AdaptorConfig(llm_dim=int(d.get("llm_dim", hidden_size)), n_audio_state=encoder.n_audio_state,
                            kernel_size=int(d.get("kernel_size", 3)),
                            adapter_stride=int(d.get("adapter_stride", 2)),
                            adapter_state=int(d.get("adapter_state", OFFICIAL_ADAPTER_STATE)))
    return encoder, adaptor


def _as_id_tuple(ids: Any) -> tuple[int, ...]:
    if ids is None:
        return ()
    if isinstance(ids, int):
        return (ids,)
    return tuple(int(i) for i in ids)


def _id_or_list(ids: tuple[int, ...]) -> int | list[int] | None:
    if not ids:
        return None
    return ids[0] if len(ids) == 1 else list(ids)


def _require_positive(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{type(obj).__name__}.{name} must be a positive int, got {value!r}")


_ROPE_PARAMETERS: bool | None = None


def _qwen2_has_rope_parameters() -> bool:
    global _ROPE_PARAMETERS
    if _ROPE_PARAMETERS is None:
        from transformers import Qwen2Config

        _ROPE_PARAMETERS = "rope_parameters" in getattr(Qwen2Config, "__dataclass_fields__", {}) or \
            hasattr(Qwen2Config(), "rope_parameters")
    return _ROPE_PARAMETERS
