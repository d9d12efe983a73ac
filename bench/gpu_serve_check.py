"""GPU check of the serving path: bfloat16, int8 / int4 weight-only, layer placement, the KV budget.

For a machine with CUDA (not run in CI). On a random tiny model it measures, against float32 on the
same device: top-1 agreement and the largest logit error of bfloat16, int8 and int4 (teacher-forced
over float32's greedy continuations); greedy generation with the layers split over every visible
GPU (identical to one device expected); and the KV pool's bytes against the planner's figure.

    python bench/gpu_serve_check.py [--tokens 64]
"""

from __future__ import annotations

import argparse
import copy

import torch

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.inference import Engine, SamplingParams, build_prompt
from mgrd.inference.plan import kv_bytes_per_token
from mgrd.inference.placement import place, quantize
from mgrd.model import AudioTokenIds, build_model, tiny_config

TEXTS = ("Which tone is higher?", "hi", "Count the beeps, then add five.", "What do you hear?")


def agreement(ref, other, prompts, gens) -> tuple[float, float]:
    agree = total = 0
    worst = 0.0
    for p, g in zip(prompts, gens):
        ids = torch.tensor([list(p.input_ids) + g[0].token_ids], device="cuda")
        with torch.no_grad():
            a, b = ref(ids).logits[0], other(ids).logits[0]
        agree += int((a.argmax(-1) == b.argmax(-1)).sum())
        total += a.shape[0]
        worst = max(worst, float((a - b).abs().max()))
    return agree / total, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check needs a GPU")
    tok = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tok.special
    cfg = tiny_config(448, audio_token_ids=AudioTokenIds.of(s),
                      eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    ref = build_model(cfg, seed=0).eval().cuda()
    with torch.no_grad():
        ref.lm_head.weight.mul_(20.0)
    prompts = [build_prompt([{"role": "user", "content": t}], tok) for t in TEXTS]
    params = SamplingParams(max_tokens=args.tokens, temperature=0)
    gens = Engine(ref, tok).generate(prompts, params)
    variants = {"bfloat16": copy.deepcopy(ref).to(torch.bfloat16)}
    for mode in ("int8", "int4"):
        variants[mode] = copy.deepcopy(ref)
        quantize(variants[mode], mode)
    for name, model in variants.items():
        top1, worst = agreement(ref, model, prompts, gens)
        same = sum(a[0].token_ids == b[0].token_ids for a, b in zip(gens, Engine(model, tok).generate(prompts, params)))
        print(f"{name:>9}: top-1 agreement {top1:.4f}, max |dlogit| {worst:.4f}, greedy identical {same}/{len(gens)}")
    devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    split = copy.deepcopy(ref)
    n = len(split.model.layers)
    counts = [n // len(devices) + (1 if i < n % len(devices) else 0) for i in range(len(devices))]
    place(split, devices, counts)
    same = sum(a[0].token_ids == b[0].token_ids for a, b in zip(gens, Engine(split, tok).generate(prompts, params)))
    print(f"placement over {devices} as {counts} layers: greedy identical {same}/{len(gens)}")
    batch = Engine(ref, tok).continuous_batch(4096)
    print(f"KV pool of 4096 tokens: {batch.pool.nbytes} bytes; plan: "
          f"{4096 // 16 * 16 * kv_bytes_per_token(cfg.text, 'float32')} bytes")


if __name__ == "__main__":
    main()
