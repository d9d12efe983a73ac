"""Engine vs transformers `generate` on the same tiny weights: tokens/s at batch 1 and 16 (or --batches), greedy.

    python bench/generate.py [--new-tokens 128] [--prompt-tokens 64] [--repeats 3] [--batches 1,16,64]

Prints tokens/s of both, their ratio, and whether the greedy outputs are identical.
"""

from __future__ import annotations

import argparse
import time

import torch

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.inference import Engine, Prompt, SamplingParams
from mgrd.model import AudioTokenIds, build_model, tiny_config


def build(seed: int = 0):
    tok = train_tokenizer(tiny_corpus(), vocab_size=2048)
    s = tok.special
    cfg = tiny_config(-(-tok.vocab_size // 64) * 64,
                      audio_token_ids=AudioTokenIds.of(s),
                      eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    return build_model(cfg, seed=seed).eval(), tok


def hf_generate(model, tok, ids: torch.Tensor, new_tokens: int) -> list[list[int]]:
    stops = [tok.special.eot, tok.special.endoftext]
    with torch.inference_mode():
        out = model.decoder.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                     do_sample=False, eos_token_id=stops, pad_token_id=tok.special.endoftext)
    result = []
    for row in out[:, ids.shape[1]:].tolist():
        cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
        result.append(row[:cut])
    return result


def run(batch: int, args, model, tok, engine) -> None:
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(0, tok.special.endoftext, (batch, args.prompt_tokens), generator=g)
    prompts = [Prompt(tuple(r)) for r in ids.tolist()]
    params = SamplingParams(max_tokens=args.new_tokens, temperature=0)
    hf_generate(model, tok, ids[:, :8], 4)  # warm-up
    engine.generate([Prompt(tuple(ids[0, :8].tolist()))], SamplingParams(max_tokens=4, temperature=0))
    best = {"engine": 0.0, "transformers": 0.0}
    for _ in range(args.repeats):  # interleaved, best of N for each
        t = time.perf_counter()
        ours = [g[0].token_ids for g in engine.generate(prompts, params)]
        best["engine"] = max(best["engine"], sum(map(len, ours)) / (time.perf_counter() - t))
        t = time.perf_counter()
        theirs = hf_generate(model, tok, ids, args.new_tokens)
        best["transformers"] = max(best["transformers"], sum(map(len, theirs)) / (time.perf_counter() - t))
    same = sum(a == b for a, b in zip(ours, theirs))
    print(f"batch {batch:2d}: engine {best['engine']:8.1f} tok/s   transformers {best['transformers']:8.1f} tok/s"
          f"   ratio {best['engine'] / best['transformers']:.2f}x   greedy identical {same}/{batch}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", default="1,16")
    args = ap.parse_args()
    model, tok = build()
    batches = [int(x) for x in args.batches.split(",")]
    engine = Engine(model, tok, max_batch_size=max(batches))   # every batch decodes at once, as transformers' does
    print(f"tiny model, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
          f"{torch.get_num_threads()} threads, prompt {args.prompt_tokens} tokens, up to {args.new_tokens} new")
    for b in batches:
        run(b, args, model, tok, engine)
    kv_per_request(engine, args)


def kv_per_request(engine, args) -> None:
    """KV bytes one request reserves in the engine's pool against the planner's (prompt + max_tokens) figure."""
    from mgrd.inference.plan import kv_bytes_per_token

    batch = engine.continuous_batch(1 << 16, stream=False)
    before = batch.pool.free_blocks
    prompt = Prompt(tuple(range(1, args.prompt_tokens + 1)))
    assert batch.add(0, prompt, SamplingParams(max_tokens=args.new_tokens, temperature=0))
    per_token = kv_bytes_per_token(engine.model.text_config, str(engine.decoder.kv_dtype).removeprefix("torch."))
    reserved = (before - batch.pool.free_blocks) * batch.pool.block * per_token
    planned = (args.prompt_tokens + args.new_tokens) * per_token
    print(f"KV per request ({args.prompt_tokens} + {args.new_tokens} tokens): reserved {reserved:,} bytes, "
          f"plan {planned:,} bytes ({reserved / planned:.3f}x: rounding up to 16-token blocks)")


if __name__ == "__main__":
    main()
