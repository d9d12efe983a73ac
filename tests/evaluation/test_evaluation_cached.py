"""CachedBackend: a rerun sends only what has no stored result, keyed by content, not by the caller's keys."""

from __future__ import annotations

import pytest

from mgrd.evaluation.cached import CachedBackend
from mgrd.inference.backend import GenerationResult, failed, sample

SAMPLING = {"max_tokens": 4, "temperature": 1.0, "top_p": 1.0, "repetition_penalty": 1.0, "thinking_budget": None}
PROMPTS = [(f"q{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(3)]


class Answering:
    """Answers from the prompt and the seed; fails prompts containing `fail`, dies after `die_after` results."""

    def __init__(self, name="m", fail=None, die_after=None):
        self.name, self.fail, self.die_after, self.sent = name, fail, die_after, []

    def identity(self):
        return {"kind": "endpoint", "base_url": self.name}

    def run(self, requests):
        for i, r in enumerate(requests):
            if self.die_after is not None and i == self.die_after:
                raise KeyboardInterrupt   # the stage is killed here
            self.sent.append(r)
            text = r.messages[0]["content"]
            yield failed(r.key, "HTTP 503") if self.fail and self.fail in text else GenerationResult(
                r.key, "ok", answer=f"{self.name}|{text}|{r.sampling['seed']}", completion_tokens=3)

    def close(self):
        pass


def test_a_rerun_after_a_kill_sends_only_the_missing_requests(tmp_path):
    first = CachedBackend(Answering(die_after=4), tmp_path)
    with pytest.raises(KeyboardInterrupt):
        sample(first, PROMPTS, n=2, sampling=SAMPLING, seed=7)
    inner = Answering()
    again = CachedBackend(inner, tmp_path)
    results = sample(again, PROMPTS, n=2, sampling=SAMPLING, seed=7)
    assert (again.hits, again.sent, len(inner.sent)) == (4, 2, 2)
    fresh = sample(Answering(), PROMPTS, n=2, sampling=SAMPLING, seed=7)
    # the same answers, under the caller's keys, as a backend without a store gives
    assert [[(g.key, g.answer, g.completion_tokens) for g in row] for row in results] == \
           [[(g.key, g.answer, g.completion_tokens) for g in row] for row in fresh]


def test_failures_are_not_kept_and_other_settings_or_models_miss(tmp_path):
    sample(CachedBackend(Answering(fail="question 1"), tmp_path), PROMPTS, n=1, sampling=SAMPLING, seed=0)
    inner = Answering()
    sample(CachedBackend(inner, tmp_path), PROMPTS, n=1, sampling=SAMPLING, seed=0)
    assert [r.messages[0]["content"] for r in inner.sent] == ["question 1"]   # only the failed one again
    for backend, sampling, seed in ((Answering(), {**SAMPLING, "temperature": 0.5}, 0), (Answering(), SAMPLING, 1),
                                    (Answering(name="other model"), SAMPLING, 0)):
        sample(CachedBackend(backend, tmp_path), PROMPTS, n=1, sampling=sampling, seed=seed)
        assert len(backend.sent) == 3


def test_the_same_question_asked_twice_in_one_call_is_sent_once(tmp_path):
    from mgrd.inference.backend import GenerationRequest

    inner = Answering()
    cached = CachedBackend(inner, tmp_path)
    request = GenerationRequest("a", PROMPTS[0][1], {**SAMPLING, "seed": 3}, "q0")
    out = list(cached.run([request, GenerationRequest("b", request.messages, request.sampling, "q0")]))
    assert len(inner.sent) == 1 and sorted(g.key for g in out) == ["a", "b"]
    assert len({g.answer for g in out}) == 1


def test_stage_backend_keeps_results_when_given_a_cache(tmp_path, monkeypatch):
    from mgrd.pipeline import backends

    monkeypatch.setattr(backends, "_backend", lambda *a, **k: Answering())
    assert isinstance(backends.stage_backend("model", None, cache=tmp_path / "samples"), CachedBackend)
    assert isinstance(backends.stage_backend("model", None), Answering)
