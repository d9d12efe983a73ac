"""Checkpoint names (format reference §2.1), official-layout loading, save/load round trips, errors."""

import json
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mgrd.model import AudioTokenIds, build_model, load_pretrained, micro_config, save_pretrained

CFG = micro_config(64)


def reference_shapes(H=32, I=64, L=2, KV=16, V=64, d=32, n_mels=128, ctx=64, blocks=1, A=64):
    """Checkpoint key -> shape, written from the key list of format reference §2.1."""
    s = {"model.embed_tokens.weight": (V, H)}
    for i in range(L):
        p = f"model.layers.{i}."
        s |= {p + "input_layernorm.weight": (H,),
              p + "self_attn.q_proj.weight": (H, H), p + "self_attn.q_proj.bias": (H,),
              p + "self_attn.k_proj.weight": (KV, H), p + "self_attn.k_proj.bias": (KV,),
              p + "self_attn.v_proj.weight": (KV, H), p + "self_attn.v_proj.bias": (KV,),
              p + "self_attn.o_proj.weight": (H, H), p + "post_attention_layernorm.weight": (H,),
              p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H),
              p + "mlp.down_proj.weight": (H, I)}
    s |= {"model.norm.weight": (H,), "lm_head.weight": (V, H),
          "encoder.conv1.weight": (d, n_mels, 3), "encoder.conv1.bias": (d,),
          "encoder.conv2.weight": (d, d, 3), "encoder.conv2.bias": (d,),
          "encoder.positional_embedding.weight": (ctx, d)}
    for j in range(blocks):
        p = f"encoder.blocks.{j}."
        s |= {p + "attn_ln.weight": (d,), p + "attn_ln.bias": (d,),
              p + "attn.query.weight": (d, d), p + "attn.query.bias": (d,), p + "attn.key.weight": (d, d),
              p + "attn.value.weight": (d, d), p + "attn.value.bias": (d,),
              p + "attn.out.weight": (d, d), p + "attn.out.bias": (d,),
              p + "mlp_ln.weight": (d,), p + "mlp_ln.bias": (d,),
              p + "mlp.0.weight": (4 * d, d), p + "mlp.0.bias": (4 * d,),
              p + "mlp.2.weight": (d, 4 * d), p + "mlp.2.bias": (d,)}
    s |= {"encoder.after_norm.weight": (d,), "encoder.after_norm.bias": (d,),
          "adapter.conv.weight": (d, d, 3), "adapter.conv.bias": (d,),
          "adapter.linear1.weight": (A, d), "adapter.linear1.bias": (A,),
          "adapter.linear2.weight": (H, A), "adapter.linear2.bias": (H,)}
    return s


def official_config_dict():
    """Nested config.json as the official checkpoints write it, at micro dims (no mgrd extras
    other than adapter_state, which the micro adaptor needs)."""
    return {
        "architectures": ["StepAudio2ForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_step_audio_2.StepAudio2Config",
                     "AutoModelForCausalLM": "modeling_step_audio_2.StepAudio2ForCausalLM"},
        "model_type": "step_audio_2",
        "text_config": {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_attention_groups": 2, "num_key_value_heads": 2,
                        "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
                        "rope_scaling": None, "eos_token_id": 0, "pad_token_id": 0, "torch_dtype": "bfloat16"},
        "audio_encoder_config": {"n_mels": 128, "n_audio_ctx": 64, "n_audio_state": 32, "n_audio_head": 2,
                                 "n_audio_layer": 1, "n_codebook_size": 4096, "llm_dim": 32, "kernel_size": 3,
                                 "adapter_stride": 2, "adapter_state": 64},
    }


def write_official(path, shapes=None, *, added_tokens=None):
    """A checkpoint in the official layout: two shards named like R1.1's plus an index."""
    shapes = reference_shapes() if shapes is None else shapes
    g = torch.Generator().manual_seed(0)
    tensors = {k: torch.randn(s, generator=g).to(torch.bfloat16) for k, s in shapes.items()}
    keys = list(tensors)
    shards = {"model-00001.safetensors": keys[: len(keys) // 2], "model-00002.safetensors": keys[len(keys) // 2:]}
    path.mkdir(exist_ok=True)
    for name, ks in shards.items():
        save_file({k: tensors[k] for k in ks}, str(path / name), metadata={"format": "pt"})
    index = {"metadata": {"total_size": sum(t.numel() * 2 for t in tensors.values())},
             "weight_map": {k: name for name, ks in shards.items() for k in ks}}
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    (path / "config.json").write_text(json.dumps(official_config_dict()))
    tokens = added_tokens or {"<|EOT|>": 58, "<audio_start>": 60, "<audio_end>": 61, "<audio_patch>": 62}
    (path / "added_tokens.json").write_text(json.dumps(tokens))
    return tensors


def test_state_dict_names_and_shapes_equal_the_reference():
    sd = build_model(CFG, seed=0).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == reference_shapes()


def test_official_layout_checkpoint_loads_exactly(tmp_path):
    tensors = write_official(tmp_path)
    model = load_pretrained(tmp_path, dtype=torch.float32)
    sd = model.state_dict()
    assert set(sd) == set(tensors)
    assert all(torch.equal(sd[k], tensors[k].float()) for k in tensors)
    assert model.audio_token_ids == AudioTokenIds(60, 61, 62)  # read by name from added_tokens.json
    assert not model.training and model.dtype == torch.float32
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.adapter.parameters())
    torch.testing.assert_close(model.model.rotary_emb.inv_freq,
                               1e4 ** (-torch.arange(0, 8, 2, dtype=torch.float32) / 8))
    out = model(torch.tensor([[60, 62, 62, 62, 62, 61, 5]]), [torch.randn(128, 30)])
    assert torch.isfinite(out.logits).all()


def test_audio_ids_from_tokenizer_json_and_explicit_override(tmp_path):
    write_official(tmp_path)
    (tmp_path / "added_tokens.json").unlink()
    added = [{"id": 50 + i, "content": t} for i, t in enumerate(["<audio_start>", "<audio_end>", "<audio_patch>"])]
    (tmp_path / "tokenizer.json").write_text(json.dumps({"added_tokens": added}))
    assert load_pretrained(tmp_path).audio_token_ids == AudioTokenIds(50, 51, 52)
    special = SimpleNamespace(audio_start=10, audio_end=11, audio_patch=12)
    assert load_pretrained(tmp_path, tokenizer_special_ids=special).audio_token_ids == AudioTokenIds(10, 11, 12)


def test_bfloat16_load_keeps_the_bits(tmp_path):
    tensors = write_official(tmp_path)
    sd = load_pretrained(tmp_path, dtype="auto").state_dict()
    assert all(sd[k].dtype == torch.bfloat16 and torch.equal(sd[k], tensors[k]) for k in tensors)


def test_missing_keys_are_listed(tmp_path):
    shapes = reference_shapes()
    del shapes["lm_head.weight"], shapes["encoder.blocks.0.attn.key.weight"]
    write_official(tmp_path, shapes)
    with pytest.raises(ValueError, match=r"2 missing: .*lm_head\.weight") as err:
        load_pretrained(tmp_path)
    assert "encoder.blocks.0.attn.key.weight" in str(err.value) and "0 unexpected" in str(err.value)


def test_unexpected_keys_are_listed(tmp_path):
    write_official(tmp_path, reference_shapes() | {"encoder.blocks.0.attn.key.bias": (32,)})
    with pytest.raises(ValueError, match=r"1 unexpected: encoder\.blocks\.0\.attn\.key\.bias"):
        load_pretrained(tmp_path)


def test_non_strict_load_initialises_missing_keys(tmp_path):
    shapes = reference_shapes()
    del shapes["lm_head.weight"]
    tensors = write_official(tmp_path, shapes | {"extra.weight": (3,)})
    model = load_pretrained(tmp_path, strict=False)
    assert torch.equal(model.state_dict()["model.norm.weight"], tensors["model.norm.weight"].float())
    assert torch.isfinite(model.lm_head.weight).all() and model.lm_head.weight.abs().sum() > 0


def test_shape_mismatch_names_key_and_shapes(tmp_path):
    write_official(tmp_path, reference_shapes() | {"adapter.linear1.weight": (2048, 32)})
    with pytest.raises(ValueError, match=r"adapter\.linear1\.weight: checkpoint \[2048, 32\] vs model \[64, 32\]"):
        load_pretrained(tmp_path)


def test_pickled_weights_are_refused_without_being_read(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(official_config_dict()))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04 not a real pickle")
    with pytest.raises(ValueError, match="only safetensors are accepted"):
        load_pretrained(tmp_path, tokenizer_special_ids=SimpleNamespace(audio_start=1, audio_end=2, audio_patch=3))


def test_index_naming_a_missing_shard(tmp_path):
    write_official(tmp_path)
    (tmp_path / "model-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model-00002.safetensors"):
        load_pretrained(tmp_path)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("max_shard_bytes", [2**31, 40_000])
def test_save_load_round_trip_is_bit_identical(tmp_path, dtype, max_shard_bytes):
    model = build_model(CFG, seed=5, dtype=dtype)
    save_pretrained(model, tmp_path, max_shard_bytes=max_shard_bytes)
    loaded = load_pretrained(tmp_path, dtype=dtype)
    a, b = model.state_dict(), loaded.state_dict()
    assert list(a) == list(b)
    assert all(b[k].dtype == dtype and torch.equal(a[k], b[k]) for k in a)
    assert loaded.config == model.config
    index = tmp_path / "model.safetensors.index.json"
    if max_shard_bytes == 2**31:
        assert not index.exists() and (tmp_path / "model.safetensors").is_file()
        files = ["model.safetensors"]
    else:
        idx = json.loads(index.read_text())
        files = sorted(set(idx["weight_map"].values()))
        n = len(files)
        assert n > 1 and files == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
        assert set(idx["weight_map"]) == set(a)
        assert idx["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in a.values())
    for f in files:
        with safe_open(tmp_path / f, framework="pt") as st:
            assert st.metadata() == {"format": "pt"}


def test_saved_config_is_the_nested_official_layout(tmp_path):
    save_pretrained(build_model(micro_config(64, eos_token_ids=(3, 4)), seed=0, dtype=torch.bfloat16), tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["architectures"] == ["StepAudio2ForCausalLM"] and cfg["model_type"] == "step_audio_2"
    assert cfg["torch_dtype"] == "bfloat16" and cfg["text_config"]["architectures"] == ["Qwen2ForCausalLM"]
    assert cfg["text_config"]["num_attention_groups"] == cfg["text_config"]["num_key_value_heads"] == 2
    assert cfg["audio_token_ids"] == {"start": 61, "end": 62, "patch": 63}
    assert json.loads((tmp_path / "generation_config.json").read_text()) == {"eos_token_id": [3, 4],
                                                                           "pad_token_id": None}


def test_resave_removes_stale_weight_files_and_saves_the_tokenizer(tmp_path):
    model = build_model(CFG, seed=1)
    save_pretrained(model, tmp_path, max_shard_bytes=40_000)
    saved = []
    tokenizer = SimpleNamespace(save=lambda path: saved.append(path))
    save_pretrained(model, tmp_path, tokenizer=tokenizer, generation_eos_ids=[7])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["config.json", "generation_config.json", "model.safetensors"]
    assert saved == [tmp_path]
    assert json.loads((tmp_path / "generation_config.json").read_text())["eos_token_id"] == [7]
    loaded = load_pretrained(tmp_path)
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    assert loaded.lm_head.weight.data_ptr() != loaded.model.embed_tokens.weight.data_ptr()
