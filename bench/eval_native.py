"""Benchmark: the native evaluation backend against the pipeline's own evaluation loop, same items,
same budgets, same engine and weights.

Run from the repository root: `python bench/eval_native.py [--items 16] [--budgets 0,8,unlimited]`.

Baseline: the loop the pipeline's evaluation used before it ran through `mgrd.evaluation` (kept
here as `pipeline_loop`: prompts built once, one `engine.generate` call over all items per budget,
a seed per item). Measured: `NativeBackend.run` over the planned requests of
`mgrd eval` (its prompt building included), and the whole `run_eval` (planning with audio hashing,
cache writes, scoring) beside it. A random tiny model (`mgrd init-tiny`'s architecture) on a small
generated world split without speech; best of interleaved repeats; ratio = pipeline / native.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from mgrd.chat import train_tokenizer  # noqa: E402
from mgrd.chat.corpus import tiny_corpus  # noqa: E402
from mgrd.data import read_split  # noqa: E402
from mgrd.data.world import WorldConfig, generate_split  # noqa: E402
from mgrd.evaluation import EvalConfig, NativeBackend, parse_budgets, plan, run_eval  # noqa: E402
from mgrd.inference import Engine  # noqa: E402
from mgrd.model import AudioTokenIds, build_model, tiny_config  # noqa: E402
from mgrd.data.records import messages_for  # noqa: E402
from mgrd.inference import SamplingParams, build_prompt  # noqa: E402
from mgrd.pipeline.data import absolute  # noqa: E402
from mgrd.tasks.world import load_world_task  # noqa: E402


def tiny_engine(seed: int, batch: int) -> Engine:
    """`mgrd init-tiny`'s model and tokenizer, random weights, in memory."""
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=2048)
    s = tokenizer.special
    config = tiny_config(-(-tokenizer.vocab_size // 64) * 64,
                         audio_token_ids=AudioTokenIds.of(s),
                         eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    return Engine(build_model(config, seed=seed), tokenizer, max_batch_size=batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--budgets", default="0,8,unlimited")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--batch", type=int, default=32, help="engine max_batch_size (both)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    budgets = parse_budgets(args.budgets)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "world"
        start = time.perf_counter()
        generate_split(root, WorldConfig("heldout", args.items, ("sound", "music"), seed=3))
        records = [r for r in read_split(root, "heldout") if r.audio]
        task = load_world_task(root)
        print(f"world split: {len(records)} audio items in {time.perf_counter() - start:.1f} s; "
              f"budgets {args.budgets}; max_tokens {args.max_tokens}; temperature {args.temperature}")
        engine = tiny_engine(0, args.batch)
        backend = NativeBackend(engine, {"kind": "checkpoint", "sha256": "random-tiny"})
        config = EvalConfig(budgets=budgets, max_tokens=args.max_tokens, temperature=args.temperature)
        planned = plan({"world": task}, backend.identity(), config)
        assert len(planned) == len(records) * len(budgets)

        def pipeline_loop() -> int:
            prompts = [build_prompt(absolute(messages_for(r, "empty")[:1], root), engine.tokenizer) for r in records]
            tokens = 0
            for b in budgets:
                params = [SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature, thinking_budget=b,
                                         seed=i) for i in range(len(records))]
                tokens += sum(len(g.token_ids) for (g,) in engine.generate(prompts, params))
            return tokens

        def native() -> int:
            results = list(backend.run(p.request for p in planned))
            assert all(r.status == "ok" for r in results), [r.error for r in results if r.status != "ok"][:1]
            return sum(r.completion_tokens for r in results)

        times: dict[str, list[float]] = {"pipeline loop": [], "native backend": [], "native run_eval": []}
        tokens = {}
        for repeat in range(args.repeats):
            order = (("pipeline loop", pipeline_loop), ("native backend", native))
            for name, fn in order if repeat % 2 == 0 else order[::-1]:   # interleaved, alternating first
                start = time.perf_counter()
                tokens[name] = fn()
                times[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            run_eval({"world": task}, backend, config, Path(tmp) / f"out{repeat}", write_report=False)
            times["native run_eval"].append(time.perf_counter() - start)
        for name, values in times.items():
            shown = f"; {tokens[name]} tokens generated" if name in tokens else ""
            print(f"{name}: best {min(values):.2f} s of {', '.join(f'{v:.2f}' for v in values)}{shown}")
        best = {name: min(values) for name, values in times.items()}
        print(f"ratio pipeline / native backend: {best['pipeline loop'] / best['native backend']:.2f}x; "
              f"pipeline / whole run_eval: {best['pipeline loop'] / best['native run_eval']:.2f}x")


if __name__ == "__main__":
    main()
