"""The inference planner against hand-computed numbers (shapes from the format reference §1.2)."""

import pytest
from typer.testing import CliRunner

from mgrd.inference.plan import (GiB, fit, kv_bytes_per_token, parameter_counts, released_config,
                                 weight_bytes)
from mgrd.model import build_model


def test_r1_parameters_weights_and_kv_by_hand():
    cfg = released_config("r1")
    c = parameter_counts(cfg)
    # Per layer: q 5120^2 + k,v 2*5120*1024 + o 5120^2 + mlp 3*5120*27648 = 487,587,840 weights,
    # + q/k/v biases 7,168 + two norms 10,240; 64 layers; embeddings + lm_head 2*158720*5120; final norm.
    assert c.decoder == 64 * (487_587_840 + 7_168 + 10_240) + 2 * 158_720 * 5_120 + 5_120 == 32_832_033_792
    assert c.encoder == 636_968_960 and c.adaptor == 18_030_848
    assert c.total == 33_487_033_600
    assert weight_bytes(cfg, "bfloat16") == 66_974_067_200
    # int8: 1 byte per decoder linear weight + a bf16 scale per output row (72,704 rows a layer); the rest bf16.
    assert weight_bytes(cfg, "int8") == (33_487_033_600 - 64 * 487_587_840) * 2 + 64 * 487_587_840 + 2 * 64 * 72_704
    assert weight_bytes(cfg, "int4") == (33_487_033_600 - 31_205_621_760) * 2 + 31_205_621_760 // 2 \
        + 4 * (31_205_621_760 // 128)
    assert kv_bytes_per_token(cfg.text) == 2 * 64 * 8 * 128 * 2 == 262_144
    assert released_config("r1.1") == cfg


def test_r1_on_four_a100_40gb_with_8k_token_requests():
    f = fit(released_config("r1"), gpus=4, gib_per_gpu=40, tokens_per_request=8192)
    # usable = 160 GiB * 0.9 - 4 GiB = 140 GiB; KV room = 140 GiB - 66,974,067,200 B; 8192 tokens = 2 GiB each.
    assert f.usable_bytes == 140 * GiB
    assert f.kv_bytes == 140 * GiB - 66_974_067_200
    assert f.kv_bytes_per_request == 2 * GiB
    assert f.concurrent_requests == 38
    assert fit(released_config("r1"), gpus=1, gib_per_gpu=40, tokens_per_request=8192).concurrent_requests == 0


def test_step_audio_2_mini_by_hand():
    cfg = released_config("step-audio-2-mini")
    c = parameter_counts(cfg)
    assert c.decoder == 28 * (233_046_016 + 4_608 + 7_168) + 2 * 158_720 * 3_584 + 3_584 == 7_663_326_720
    assert c.adaptor == 4_916_480 + 2_623_488 + 2_048 * 3_584 + 3_584
    assert c.total == 8_315_179_264
    assert kv_bytes_per_token(cfg.text) == 57_344
    f = fit(cfg, gpus=1, gib_per_gpu=24, tokens_per_request=8192)
    usable = int(24 * GiB * 0.9) - GiB
    assert f.concurrent_requests == (usable - 2 * 8_315_179_264) // (8192 * 57_344) == 11


def test_counts_equal_a_built_model(tokenizer):
    from mgrd.model import AudioTokenIds, tiny_config
    s = tokenizer.special
    cfg = tiny_config(448, audio_token_ids=AudioTokenIds.of(s))
    model = build_model(cfg, seed=0)
    c = parameter_counts(cfg)
    assert c.decoder == sum(p.numel() for p in model.model.parameters()) + model.lm_head.weight.numel()
    assert c.total == sum(p.numel() for p in model.parameters())


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="accepted: r1, r1.1, step-audio-2-mini"):
        released_config("r2")
    with pytest.raises(ValueError, match="accepted"):
        weight_bytes(released_config("r1"), "int3")


def test_cli_plan_serve():
    from mgrd.cli.main import app
    out = CliRunner().invoke(app, ["plan", "serve", "r1", "--gpus", "4", "--gib", "40", "--prompt-tokens", "1024",
                                   "--generation-tokens", "7168"])
    assert out.exit_code == 0, out.output
    row = next(line.split() for line in out.output.splitlines() if line.strip().startswith("bfloat16"))
    assert row[-1] == "38"
    assert "262,144 bytes" in out.output
