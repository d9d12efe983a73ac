"""int8 weight-only quantisation against float32 on a tiny model; layer placement over devices."""

import copy

import pytest
import torch

from mgrd.inference import Engine, SamplingParams
from mgrd.inference.conversation import build_prompt
from mgrd.inference.placement import is_quantized, parse_device_map, place, quantize, split_layers


def _prompts(tokenizer):
    return [build_prompt([{"role": "user", "content": t}], tokenizer)
            for t in ("Which tone is higher?", "hi", "Count the beeps, then add five.")]


def test_int8_agrees_with_float32(micro_model, tokenizer):
    pytest.importorskip("torchao")
    q = copy.deepcopy(micro_model)
    quantize(q, "int8")
    assert all(is_quantized(layer.mlp.down_proj.weight) for layer in q.model.layers)
    assert not is_quantized(q.lm_head.weight) and not is_quantized(q.model.embed_tokens.weight)
    # Teacher-forced over the float32 model's own greedy continuations: per-position logits compared.
    ref_engine, q_engine = Engine(micro_model, tokenizer), Engine(q, tokenizer)
    params = SamplingParams(max_tokens=24, temperature=0)
    agree = total = 0
    worst = 0.0
    for prompt, gen in zip(_prompts(tokenizer), ref_engine.generate(_prompts(tokenizer), params)):
        ids = torch.tensor([list(prompt.input_ids) + gen[0].token_ids])
        with torch.no_grad():
            a, b = micro_model(ids).logits[0], q(ids).logits[0]
        agree += int((a.argmax(-1) == b.argmax(-1)).sum())
        total += a.shape[0]
        worst = max(worst, float((a - b).abs().max() / a.abs().max()))
    # Thresholds; docs/serving.md states the numbers measured on the tiny (quickstart-size) model.
    assert agree / total >= 0.97, (agree, total)
    assert worst < 0.03, worst
    same = sum(x[0].token_ids == y[0].token_ids for x, y in
               zip(ref_engine.generate(_prompts(tokenizer), params), q_engine.generate(_prompts(tokenizer), params)))
    assert same >= 2


def test_int4_refuses_the_cpu_and_bad_modes_are_named(micro_model):
    pytest.importorskip("torchao")
    with pytest.raises(ValueError, match="CUDA device only"):
        quantize(copy.deepcopy(micro_model), "int4")
    with pytest.raises(ValueError, match="accepted: int8, int4"):
        quantize(micro_model, "int2")


def test_split_layers_by_hand():
    # 64 layers of 1 unit; device 0 keeps 4 units of embeddings, device 3 keeps 2 of lm_head: room
    # 16, 20, 20, 18 of 74; shares 13.84, 17.30, 17.30, 15.57 -> 13, 17, 17, 15 and the two left over
    # go to the largest fractions (devices 0 and 3).
    assert split_layers(64, [20, 20, 20, 20], 1, first_extra=4, last_extra=2) == [14, 17, 17, 16]
    assert split_layers(10, [10, 30], 1) == [3, 7]
    assert split_layers(3, [1, 1, 1], 1) == [1, 1, 1]
    with pytest.raises(ValueError, match="quantise it or add devices"):
        split_layers(64, [20, 20], 1)


def test_placement_over_the_devices_present_keeps_the_output(micro_model, tokenizer):
    devices = ["cpu", "cpu"] + (["cuda:0"] if torch.cuda.is_available() else [])
    model = copy.deepcopy(micro_model)
    n = len(model.model.layers)
    counts = [n - (len(devices) - 1)] + [1] * (len(devices) - 1)
    where = place(model, devices, counts)
    assert [str(d) for d in where] == [d for d, k in zip(devices, counts) for _ in range(k)]
    params = SamplingParams(max_tokens=12, temperature=0)
    ref = Engine(micro_model, tokenizer).generate(_prompts(tokenizer), params)
    out = Engine(model, tokenizer).generate(_prompts(tokenizer), params)
    assert [r[0].token_ids for r in out] == [r[0].token_ids for r in ref]
    with pytest.raises(ValueError, match="does not cover"):
        place(copy.deepcopy(micro_model), ["cpu"], [n + 1])


def test_parse_device_map():
    assert parse_device_map(None) is None
    assert parse_device_map("cuda:0=40,cuda:1=24") == (["cuda:0", "cuda:1"], [40, 24])
    with pytest.raises(ValueError, match="accepted: auto"):
        parse_device_map("cuda:0")


def test_quantize_without_torchao_names_the_extra(micro_model, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[quantize\]"'):
        quantize(copy.deepcopy(micro_model), "int8")
