"""mgrd plan train: the arithmetic by hand, checked against a measured CPU peak, and the command's table."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mgrd.model import AudioTokenIds
from mgrd.model.config import AdaptorConfig, AudioLMConfig, EncoderConfig, TextConfig
from mgrd.pipeline import plan as P
from mgrd.pipeline.recipe import load_recipe

MEASURE = Path(__file__).with_name("plan_measure.py")


def small(h, i, layers, v):
    return AudioLMConfig(text=TextConfig(vocab_size=v, hidden_size=h, intermediate_size=i, num_hidden_layers=layers,
                                         num_attention_heads=4, num_key_value_heads=2, torch_dtype="float32",
                                         max_position_embeddings=4096),
                         encoder=EncoderConfig(n_mels=128, n_audio_ctx=64, n_audio_state=32, n_audio_head=2,
                                               n_audio_layer=1),
                         adaptor=AdaptorConfig(llm_dim=h, n_audio_state=32, adapter_state=64),
                         audio_token_ids=AudioTokenIds(v - 3, v - 2, v - 1))


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc peak-RSS accounting")
@pytest.mark.parametrize("checkpointing", [False, True])
def test_planned_sft_step_is_within_25_percent_of_the_measured_cpu_peak(checkpointing):
    h, i, layers, v, tokens, batch = 256, 1024, 4, 8192, 1024, 4
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(MEASURE), *map(str, (h, i, layers, v, tokens, batch, int(checkpointing)))],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    measured = json.loads(proc.stdout.strip().splitlines()[-1])["peak"]
    planned = P.total(P.sft_memory(P.Shapes.of(small(h, i, layers, v)), P.Setup(1, compute_bytes=4,
                                                                                 checkpointing=checkpointing),
                                   micro=batch, max_length=tokens))
    assert abs(planned - measured) <= 0.25 * measured, (planned / 2**20, measured / 2**20)


def test_the_paper_models_size_and_the_sharded_states_by_hand():
    s = P.Shapes.of(P.preset_config("r1"))
    # reference: 32.8 B LLM + 0.64 B encoder + 0.02 B adaptor
    assert s.total == pytest.approx(33.46e9, rel=2e-3)
    assert s.lm_head == 158720 * 5120 and s.kv == 8 * 128
    sft = P.sft_memory(s, P.Setup(8, 2, True), micro=1, max_length=12288)
    assert sft["params"] == 4 * s.total / 8 and sft["optimizer"] == 8 * s.trainable / 8
    ppo = P.ppo_memory(s, P.Setup(8, 2, True), micro=1, max_length=12288, rollout_batch=16, kl=False)
    critic = s.total - s.lm_head
    assert ppo["params"] == 4 * (s.total + critic) / 8            # no reference at kl_coef 0
    with_ref = P.ppo_memory(s, P.Setup(8, 2, True), micro=1, max_length=12288, rollout_batch=16, kl=True)
    assert with_ref["params"] - ppo["params"] == 4 * s.total / 8
    assert ppo["rollout"] >= 2 * s.total                          # the bf16 replica of the engine
    one = P.ppo_memory(s, P.Setup(1, 2, True), micro=1, max_length=12288, rollout_batch=16, kl=False)
    assert one["gathered"] == 0 and one["rollout"] < 2 * s.total  # one process: the engine shares the policy
    # KV cache: 2 (k, v) x layers x kv x tokens x sequences x 2 bytes
    assert P.kv_cache_bytes(s, 16, 12288, 2) == 2 * 64 * 1024 * 12288 * 16 * 2
    # checkpointing keeps one hidden state per layer instead of every layer's saved tensors
    assert sft["activations_ckpt"] < sft["activations_no_ckpt"] / 10


def test_grpo_stages_are_planned_without_a_critic():
    s = P.Shapes.of(P.preset_config("mini"))
    gae = P.plan_recipe(load_recipe("step-audio-r1"), s, gpus=8)
    recipe = load_recipe("step-audio-r1", ["text_rl.advantage=grpo", "iterations.rl.advantage=grpo"])
    grpo = P.plan_recipe(recipe, s, gpus=8)
    critic, critic_trained = s.total - s.lm_head, s.trainable - s.lm_head   # the critic has no lm_head
    for stage in ("text_rl", "iterations.rl"):
        # the actor alone: float32 params 4 B, grads 4 B, AdamW 8 B per parameter, over 8 ranks
        assert grpo[stage]["params"] == 4 * s.total / 8
        assert grpo[stage]["grads"] == 4 * s.trainable / 8 and grpo[stage]["optimizer"] == 8 * s.trainable / 8
        saved = P.total(gae[stage]) - P.total(grpo[stage])
        assert saved == pytest.approx((4 * critic + 12 * critic_trained) / 8)
        assert grpo[stage]["activations"] == gae[stage]["activations"]
    assert grpo["cold_start"] == gae["cold_start"]


def test_plan_command_prints_every_stage_and_a_verdict():
    from typer.testing import CliRunner

    from mgrd.cli.main import app

    runner = CliRunner()
    out = runner.invoke(app, ["plan", "train", "step-audio-r1", "--gpus", "8", "--gpu-mem", "80", "--shapes", "mini"])
    assert out.exit_code == 0, out.output
    for stage in ("cold_start", "iterations.sft", "text_rl", "iterations.rl", "cognition"):
        assert stage in out.output
    assert "verdict: fits on 8 x 80 GB" in out.output
    r1 = runner.invoke(app, ["plan", "train", "step-audio-r1", "--gpus", "8", "--gpu-mem", "80"])
    assert r1.exit_code == 0 and "verdict: does not fit" in r1.output and "33.49 B" in r1.output
    bad = runner.invoke(app, ["plan", "train", "step-audio-r1", "--shapes", "huge"])
    assert bad.exit_code != 0 and "r1, mini" in bad.output


def test_a_stage_that_does_not_fit_is_named_and_more_gpus_help():
    r = load_recipe("step-audio-r1")
    s = P.Shapes.of(P.preset_config("mini"))
    small_gpu = P.plan_recipe(r, s, gpus=1)
    assert P.total(small_gpu["text_rl"]) > 0.9 * 80 * P.GiB
    assert P.smallest_fit(r, s, gpu_bytes=80 * P.GiB) == 6


def test_lora_keeps_grads_and_optimizer_states_for_the_adapters_only():
    s = P.Shapes.of(P.preset_config("r1"))
    # rank 16 on q, k, v, o (5120 -> 5120, 5120 -> 1024 twice, 5120 -> 5120), gate, up (5120 -> 27648), down:
    # 16 x (4·5120 + 2·(5120 + 1024) + 3·(5120 + 27648)) = 16 x 131,072 = 2,097,152 per layer; 64 layers
    assert P.lora_layer_params(s, 16, P.Setup(1).lora_targets) == 2_097_152
    adapters = 2_097_152 * 64
    lora = P.Setup(8, 2, True, lora_rank=16)
    sft = P.sft_memory(s, lora, micro=1, max_length=12288)
    assert sft["params"] == 4 * (s.total + adapters) / 8
    assert sft["grads"] == 4 * adapters / 8 == 67_108_864
    assert sft["optimizer"] == 8 * adapters / 8
    dpo = P.sft_memory(s, lora, micro=1, max_length=12288, reference=True)
    assert dpo["params"] == sft["params"]          # the reference is the policy with adapters off
    one = P.ppo_memory(s, P.Setup(1, 2, True, lora_rank=16), micro=1, max_length=12288, rollout_batch=16, kl=True)
    assert one["rollout"] >= 2 * s.total           # the merged replica the engine decodes from, on one process too
    full = P.sft_memory(s, P.Setup(8, 2, True), micro=1, max_length=12288)
    assert P.total(full) - P.total(sft) > 45 * P.GiB
