"""Benchmark: time to generate the synthetic world without speech, 2 workers against 1 (same run, same machine).

    python bench/world.py --n 10000 --baseline-n 2000

Goal (issue 3): 10,000 items without speech in under 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from mgrd.data.world import WorldConfig, generate_split

FAMILIES = ("sound", "music", "composite", "cognition", "text")


def timed(n: int, workers: int, root: Path) -> float:
    start = time.perf_counter()
    generate_split(root, WorldConfig("train", n, FAMILIES, seed=0), workers=workers)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="items generated with --workers")
    parser.add_argument("--baseline-n", type=int, default=2000, help="items generated with 1 worker (baseline)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mgrd-world-bench-"))
    try:
        base = timed(args.baseline_n, 1, scratch / "baseline")
        fast = timed(args.n, args.workers, scratch / "parallel")
        size = sum(p.stat().st_size for p in (scratch / "parallel").rglob("*") if p.is_file())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base_rate, fast_rate = args.baseline_n / base, args.n / fast
    print(f"baseline: 1 worker, {args.baseline_n} items in {base:.1f} s ({base_rate:.1f} items/s)")
    print(f"parallel: {args.workers} workers, {args.n} items in {fast:.1f} s ({fast_rate:.1f} items/s), "
          f"{size / 2**20:.0f} MiB on disk")
    print(f"speed-up {fast_rate / base_rate:.2f}x; 10,000 items take {10000 / fast_rate:.0f} s "
          f"(goal < 180 s: {'met' if 10000 / fast_rate < 180 else 'NOT met'})")


if __name__ == "__main__":
    main()
