"""Config layouts of Step-Audio-2-family checkpoints: parsing, round trips and errors."""

import copy

import pytest
import torch

from mgrd.model import (
    AdaptorConfig,
    AudioLMConfig,
    AudioTokenIds,
    EncoderConfig,
    TextConfig,
    empty_model,
    micro_config,
    read_config,
    write_config,
)


def _audio_encoder_config(llm_dim):
    return {"n_mels": 128, "n_audio_ctx": 1500, "n_audio_state": 1280, "n_audio_head": 20,
            "n_audio_layer": 32, "n_codebook_size": 4096, "llm_dim": llm_dim, "kernel_size": 3,
            "adapter_stride": 2}


def r11_nested():
    """Written like the released Step-Audio-R1.1 config.json (format reference §1)."""
    return {
        "architectures": ["StepAudio2ForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_step_audio_2.StepAudio2Config",
                     "AutoModelForCausalLM": "modeling_step_audio_2.StepAudio2ForCausalLM"},
        "model_type": "step_audio_2",
        "torch_dtype": "bfloat16",
        "text_config": {
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 158720,
            "hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 64,
            "num_attention_heads": 40, "num_attention_groups": 8, "num_key_value_heads": 8,
            "max_position_embeddings": 65536, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
            "rope_scaling": None, "max_window_layers": None, "eos_token_id": 151643,
            "pad_token_id": 151643, "torch_dtype": "bfloat16",
        },
        "audio_encoder_config": _audio_encoder_config(5120),
    }


def mini_nested():
    """Written like the released Step-Audio-2-mini config.json."""
    return {
        "architectures": ["StepAudio2ForCausalLM"], "model_type": "step_audio_2",
        "auto_map": {"AutoConfig": "configuration_step_audio_2.StepAudio2Config"},
        "text_config": {
            "vocab_size": 158720, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
            "num_attention_heads": 28, "num_attention_groups": 4, "num_key_value_heads": 4,
            "max_position_embeddings": 16384, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
            "rope_scaling": None, "eos_token_id": 151643, "pad_token_id": 151643, "torch_dtype": "bfloat16",
        },
        "audio_encoder_config": _audio_encoder_config(3584),
    }


def r11_flat():
    """R1.1's config_origin.json layout: LLM keys at the top level, no hidden_act/initializer_range."""
    return {
        "architectures": ["StepAudioForCausalLMV2"], "model_type": "step_audio_qwen2",
        "vocab_size": 158720, "hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 64,
        "num_attention_heads": 40, "num_attention_groups": 8, "max_seq_len": 65536, "rms_norm_eps": 1e-05,
        "rope_theta": 1000000.0, "eos_token_id": 151643, "pad_token_id": 151643, "torch_dtype": "bfloat16",
        "audio_encoder_config": _audio_encoder_config(5120),
    }


def _check_r11(cfg):
    t = cfg.text
    assert (t.vocab_size, t.hidden_size, t.intermediate_size, t.num_hidden_layers) == (158720, 5120, 27648, 64)
    assert (t.num_attention_heads, t.num_key_value_heads, t.head_dim) == (40, 8, 128)
    assert (t.rms_norm_eps, t.rope_theta, t.max_position_embeddings) == (1e-5, 1e6, 65536)
    assert (t.eos_token_id, t.pad_token_id, t.torch_dtype) == ((151643,), 151643, "bfloat16")
    assert (t.hidden_act, t.initializer_range, t.tie_word_embeddings) == ("silu", 0.02, False)
    assert cfg.encoder == EncoderConfig(128, 1500, 1280, 20, 32)
    assert cfg.adaptor == AdaptorConfig(llm_dim=5120, n_audio_state=1280, kernel_size=3, adapter_stride=2,
                                        adapter_state=2048)
    assert cfg.audio_token_ids == AudioTokenIds(151688, 151689, 151690)


def test_r11_nested_layout_parses_to_released_numbers():
    _check_r11(AudioLMConfig.from_dict(r11_nested()))


def test_r11_flat_layout_parses_to_the_same_numbers():
    _check_r11(AudioLMConfig.from_dict(r11_flat()))


def test_mini_nested_layout():
    cfg = AudioLMConfig.from_dict(mini_nested())
    t = cfg.text
    assert (t.hidden_size, t.intermediate_size, t.num_hidden_layers, t.num_attention_heads) == (3584, 18944, 28, 28)
    assert (t.num_key_value_heads, t.rms_norm_eps, t.max_position_embeddings) == (4, 1e-6, 16384)
    assert cfg.adaptor.llm_dim == 3584


def _reference_counts(H, I, L, KV, V, d=1280, n_layer=32, ctx=1500, mels=128, A=2048):
    """Parameter counts from the shapes of format reference §2.1."""
    layer = (H * H + H) + 2 * (KV * H + KV) + H * H + 2 * H + 3 * I * H
    decoder = 2 * V * H + L * layer + H
    block = 4 * d + (d * d + d) + d * d + 2 * (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    encoder = (d * mels * 3 + d) + (d * d * 3 + d) + ctx * d + n_layer * block + 2 * d
    adaptor = (d * d * 3 + d) + (A * d + A) + (H * A + H)
    return {"encoder": encoder, "adaptor": adaptor, "decoder": decoder, "total": encoder + adaptor + decoder}


@pytest.mark.parametrize("make, dims", [(r11_nested, (5120, 27648, 64, 8 * 128)),
                                        (mini_nested, (3584, 18944, 28, 4 * 128))])
def test_released_configs_build_on_meta_with_the_published_size(make, dims):
    model = empty_model(AudioLMConfig.from_dict(make()), dtype=torch.bfloat16, device="meta")
    counts = model.num_parameters()
    assert counts == _reference_counts(*dims, V=158720)
    if make is r11_nested:  # "32.8B LLM + 0.64B encoder + 0.02B adaptor" (format reference §1.2)
        assert round(counts["decoder"] / 1e9, 1) == 32.8
        assert round(counts["encoder"] / 1e9, 2) == 0.64
        assert round(counts["adaptor"] / 1e9, 2) == 0.02


def test_micro_config_golden_dict_and_round_trip(tmp_path):
    cfg = micro_config(64, eos_token_ids=(5, 6), pad_token_id=0)
    d = cfg.to_dict()
    assert d == {
        "architectures": ["StepAudio2ForCausalLM"], "model_type": "step_audio_2", "torch_dtype": "float32",
        "text_config": {
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 64, "hidden_size": 32,
            "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_attention_groups": 2, "num_key_value_heads": 2, "hidden_act": "silu",
            "max_position_embeddings": 256, "initializer_range": 0.02, "rms_norm_eps": 1e-6,
            "rope_theta": 1e4, "rope_scaling": None, "tie_word_embeddings": False, "use_sliding_window": False,
            "eos_token_id": [5, 6], "pad_token_id": 0, "torch_dtype": "float32",
        },
        "audio_encoder_config": {
            "n_mels": 128, "n_audio_ctx": 64, "n_audio_state": 32, "n_audio_head": 2, "n_audio_layer": 1,
            "n_codebook_size": 4096, "llm_dim": 32, "kernel_size": 3, "adapter_stride": 2, "adapter_state": 64,
        },
        "audio_token_ids": {"start": 61, "end": 62, "patch": 63},
    }
    assert AudioLMConfig.from_dict(d) == cfg
    write_config(tmp_path, cfg)
    assert read_config(tmp_path) == cfg


def test_official_config_round_trips_without_extra_keys():
    cfg = AudioLMConfig.from_dict(r11_nested())
    d = cfg.to_dict()
    assert "audio_token_ids" not in d and "adapter_state" not in d["audio_encoder_config"]
    assert "auto_map" not in d
    assert d["text_config"]["eos_token_id"] == 151643
    assert AudioLMConfig.from_dict(d) == cfg


def test_transformers5_rope_parameters_form_is_accepted():
    d = mini_nested()
    del d["text_config"]["rope_theta"]
    d["text_config"]["rope_parameters"] = {"rope_type": "default", "rope_theta": 5e5}
    assert AudioLMConfig.from_dict(d).text.rope_theta == 5e5


def test_qwen2_config_conversion_keeps_every_field():
    text = micro_config(eos_token_ids=(7,), pad_token_id=1).text
    qc = text.to_qwen2_config()
    assert (qc.hidden_size, qc.num_key_value_heads, qc.rms_norm_eps, qc.tie_word_embeddings) == (32, 2, 1e-6, False)
    assert qc.rope_parameters["rope_theta"] == 1e4
    assert TextConfig.from_qwen2_config(qc, torch_dtype="float32") == text


def test_explicit_audio_token_ids_override_the_dict():
    ids = AudioTokenIds(10, 11, 12)
    assert AudioLMConfig.from_dict(r11_nested(), audio_token_ids=ids).audio_token_ids == ids


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(model_type="llama"), "accepted: step_audio_2, step_audio_qwen2"),
    (lambda d: d.pop("model_type"), "accepted: step_audio_2, step_audio_qwen2"),
    (lambda d: d["text_config"].update(num_attention_groups=4), "num_attention_groups (4) must equal"),
    (lambda d: d.pop("audio_encoder_config"), "no 'audio_encoder_config'"),
    (lambda d: d["audio_encoder_config"].update(llm_dim=4096), "llm_dim (4096) must equal"),
    (lambda d: d["text_config"].pop("hidden_size"), "lacks hidden_size"),
    (lambda d: d["text_config"].update(rope_scaling={"type": "yarn", "factor": 4}), "not supported"),
    (lambda d: d["text_config"].update(tie_word_embeddings=True), "tie_word_embeddings"),
])
def test_bad_configs_raise_clear_errors(edit, message):
    d = copy.deepcopy(r11_nested())
    edit(d)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AudioLMConfig.from_dict(d)


def test_audio_ids_outside_vocab_are_rejected():
    with pytest.raises(ValueError, match="3 distinct ids"):
        micro_config(64, audio_token_ids=AudioTokenIds(151688, 151689, 151690))
