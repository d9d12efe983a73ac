"""The backend protocol's helpers: one seed rule for every item, `sample` over any backend, replicas."""

from __future__ import annotations

import threading

import pytest

from mgrd.evaluation.replicas import Replicas
from mgrd.inference.backend import GenerationResult, failed, item_seed, sample

SAMPLING = {"max_tokens": 4, "temperature": 1.0, "top_p": 1.0, "repetition_penalty": 1.0, "thinking_budget": None}


class Echo:
    """Answers each request with its key and seed, in reverse order; can fail or drop given keys."""

    def __init__(self, name="echo", fail=(), drop=(), crash_after=None, barrier=None):
        self.name, self.fail, self.drop, self.crash_after = name, set(fail), set(drop), crash_after
        self.seen, self.barrier = [], barrier

    def identity(self):
        return {"kind": "endpoint", "base_url": self.name}

    def run(self, requests):
        requests = list(requests)
        self.seen += requests
        if self.barrier is not None:      # waits for the other replica: passes only if both run at once
            self.barrier.wait(timeout=30)
        for i, r in enumerate(reversed(requests)):
            if self.crash_after is not None and i == self.crash_after:
                raise ConnectionError("server went away")
            if r.key in self.drop:
                continue
            yield failed(r.key, "HTTP 503") if r.key in self.fail else GenerationResult(
                r.key, "ok", answer=f"{self.name}:{r.key}:{r.sampling['seed']}")

    def close(self):
        self.closed = True


def test_item_seed_is_a_pure_function_of_base_sample_and_item():
    assert item_seed(0, 0, "a") == item_seed(0, 0, "a")
    seeds = {item_seed(b, j, i) for b in (0, 1) for j in (0, 1, 2) for i in ("a", "b", "c")}
    assert len(seeds) == 18 and all(0 <= s < 2**62 for s in seeds)
    # the hand-checkable definition: the first 8 bytes of sha256("base/sample/id"), mod 2^62
    import hashlib
    assert item_seed(7, 2, "m1") == int.from_bytes(hashlib.sha256(b"7/2/m1").digest()[:8], "big") % 2**62


def test_sample_returns_n_results_per_prompt_in_prompt_order_with_per_sample_seeds():
    backend = Echo()
    out = sample(backend, [("a", ["ma"]), ("b", ["mb"])], n=3, sampling=SAMPLING, seed=5)
    assert [[r.key for r in row] for row in out] == [["a#0", "a#1", "a#2"], ["b#0", "b#1", "b#2"]]
    assert [[r.answer.rsplit(":", 1)[1] for r in row] for row in out] == [
        [str(item_seed(5, j, i)) for j in range(3)] for i in ("a", "b")]
    assert [r.messages for r in backend.seen] == [["ma"]] * 3 + [["mb"]] * 3
    assert all(r.sampling["max_tokens"] == 4 and r.item_id in ("a", "b") for r in backend.seen)


def test_sample_keeps_failures_as_results_and_refuses_what_it_cannot_pair():
    out = sample(Echo(fail={"a#1"}), [("a", [])], n=2, sampling=SAMPLING)
    assert [r.status for r in out[0]] == ["ok", "failed"] and out[0][1].error == "HTTP 503"
    with pytest.raises(RuntimeError, match="no result for 1 of 2 requests"):
        sample(Echo(drop={"a#0"}), [("a", [])], n=2, sampling=SAMPLING)
    with pytest.raises(ValueError, match="distinct item ids"):
        sample(Echo(), [("a", []), ("a", [])], n=1, sampling=SAMPLING)
    with pytest.raises(ValueError, match="n must be >= 1"):
        sample(Echo(), [("a", [])], n=0, sampling=SAMPLING)


def test_replicas_deal_requests_round_robin_and_run_them_concurrently():
    barrier = threading.Barrier(2)
    left, right = Echo("left", barrier=barrier), Echo("right", barrier=barrier)
    both = Replicas([left, right])
    out = sample(both, [(f"q{i}", []) for i in range(3)], n=2, sampling=SAMPLING)
    assert len(left.seen) == len(right.seen) == 3                        # 6 requests, dealt alternately
    # every request answered: the replicas met at the barrier, so they ran at the same time
    assert all(r.status == "ok" for row in out for r in row)
    assert {r.answer.split(":")[0] for row in out for r in row} == {"left", "right"}
    assert both.identity() == {"kind": "endpoint", "base_url": "left", "replicas": 2}
    assert Replicas([left]).identity() == left.identity()
    both.close()
    assert left.closed and right.closed


def test_a_broken_replica_fails_only_what_it_had_not_answered():
    good, broken = Echo("good"), Echo("broken", crash_after=1)
    out = sample(Replicas([good, broken]), [(f"q{i}", []) for i in range(2)], n=2, sampling=SAMPLING)
    results = [r for row in out for r in row]
    assert sum(r.status == "ok" for r in results) == 3                   # 2 from good, 1 from broken before it broke
    (lost,) = [r for r in results if r.status == "failed"]
    assert "replica failed: ConnectionError: server went away" in lost.error
    with pytest.raises(ValueError, match="at least one backend"):
        Replicas([])
