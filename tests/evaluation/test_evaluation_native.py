"""The native backend on a micro model: prompts with chunked audio, thinking budgets, per-item failures;
each prompt built once, one engine call per sampling setting, a seed of its own for every item."""

import pytest
from conftest import make_mmau

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.evaluation import EvalConfig, GenerationRequest, NativeBackend, run_eval
from mgrd.inference.backend import item_seed
from mgrd.inference import Engine
from mgrd.model import AudioTokenIds, build_model, micro_config
from mgrd.tasks.registry import load_task


@pytest.fixture(scope="module")
def backend():
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds.of(s),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    return NativeBackend(Engine(build_model(cfg, seed=0), tokenizer, max_batch_size=2),
                         {"kind": "checkpoint", "sha256": "micro"})


def test_native_budgets_and_records(backend, tmp_path):
    task = load_task("mmau", make_mmau(tmp_path / "mmau"))
    config = EvalConfig(budgets=(0, 4), max_tokens=8, temperature=0.0, limit=2)
    scores = run_eval({"mmau": task}, backend, config, tmp_path / "out", write_report=False)
    assert scores["run"] == {"planned": 4, "cached": 0, "requested": 4}
    from mgrd.evaluation import RecordStore

    records = list(RecordStore(tmp_path / "out" / "cache"))
    assert all(r["status"] == "ok" and r["prompt_tokens"] > 0 for r in records)
    by_budget = {b: [r for r in records if r["setting"]["budget"] == b] for b in (0, 4)}
    assert all(r["reasoning_tokens"] == 0 and r["reasoning"] == "" for r in by_budget[0])
    assert all(r["reasoning_tokens"] <= 4 for r in by_budget[4])
    again = run_eval({"mmau": task}, backend, config, tmp_path / "out", write_report=False)
    assert again["run"]["requested"] == 0


def test_native_bad_audio_fails_only_that_item(backend, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    sampling = {"max_tokens": 4, "temperature": 0.0, "top_p": 1.0, "repetition_penalty": 1.0, "seed": 0,
                "thinking_budget": 0}
    good_audio = str(make_mmau(tmp_path / "m") / "test-mini-audios" / "m1.wav")
    msgs = lambda a: [{"role": "user", "content": [{"type": "text", "text": "Q"}, {"type": "audio", "audio": a}]}]  # noqa: E731
    results = {r.key: r for r in backend.run([GenerationRequest("aa", msgs(str(bad)), sampling),
                                              GenerationRequest("bb", msgs(good_audio), sampling)])}
    assert results["aa"].status == "failed" and results["bb"].status == "ok"


class SpyEngine:
    """The real engine, recording each generate call's prompt count and sampling params."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def generate(self, prompts, params):
        self.calls.append(list(params))
        return self.engine.generate(prompts, params)


def test_prompts_built_once_one_call_per_budget_and_a_seed_per_item(backend, tmp_path, monkeypatch):
    import mgrd.inference

    built = []
    real_build = mgrd.inference.build_prompt
    monkeypatch.setattr(mgrd.inference, "build_prompt", lambda m, t: built.append(m) or real_build(m, t))
    spy = SpyEngine(backend.engine)
    native = NativeBackend(spy, backend.identity())
    task = load_task("mmau", make_mmau(tmp_path / "mmau"))
    config = EvalConfig(budgets=(0, 4, None), seeds=2, max_tokens=6, temperature=1.0)
    scores = run_eval({"mmau": task}, native, config, tmp_path / "out", write_report=False)
    assert scores["run"]["requested"] == 3 * 3 * 2 and scores["requests"]["failed"] == 0
    assert len(built) == 3                                    # one prompt per item, not one per budget and seed
    (call,) = spy.calls                                       # one engine call: 3 items x 3 budgets x 2 seeds
    assert len(call) == 18
    by_budget = {b: sorted(p.seed for p in call if p.thinking_budget == b) for b in (0, 4, None)}
    assert len(set(by_budget[0])) == 6                        # every (item, seed) its own stream
    assert by_budget[0] == by_budget[4] == by_budget[None]    # the same at every budget


def test_each_request_samples_with_its_own_seed_whatever_shares_its_batch(backend, tmp_path):
    audio = str(make_mmau(tmp_path / "m") / "test-mini-audios" / "m1.wav")
    messages = [{"role": "user", "content": [{"type": "text", "text": "Q"}, {"type": "audio", "audio": audio}]}]
    sampling = {"max_tokens": 12, "temperature": 1.0, "top_p": 1.0, "repetition_penalty": 1.0,
                "thinking_budget": None}
    # Four items with the same prompt, each with its item seed (as the runner plans them) ...
    requests = [GenerationRequest(f"{i:02x}", messages, {**sampling, "seed": item_seed(0, 0, f"item{i}")},
                                  item_id=f"item{i}") for i in range(4)]
    texts = {r.key: r.text for r in backend.run(requests)}
    again = {r.key: r.text for r in backend.run(requests[::-1])}
    assert texts == again                                     # seeded: reproducible, in any batch order
    assert len(set(texts.values())) > 1                       # not one stream shared by the whole batch
    alone = {r.key: r.text for r in backend.run(requests[1:2])}
    assert alone == {"01": texts["01"]}                       # what shares the batch changes nothing
    # ... and requests that carry one seed are sampled with exactly that seed: one stream.
    same = [GenerationRequest(f"s{i}", messages, {**sampling, "seed": 7}, item_id=f"item{i}") for i in range(3)]
    assert len({r.text for r in backend.run(same)}) == 1


def test_windows_bound_the_prompts_held_and_every_request_is_answered(backend, tmp_path):
    spy = SpyEngine(backend.engine)
    native = NativeBackend(spy, backend.identity(), window=2)
    task = load_task("mmau", make_mmau(tmp_path / "mmau"))
    config = EvalConfig(budgets=(0, 4), max_tokens=4, temperature=0.0)
    scores = run_eval({"mmau": task}, native, config, tmp_path / "out", write_report=False)
    assert [len(c) for c in spy.calls] == [4, 2]              # 2 prompts x 2 budgets, then the third prompt
    assert scores["run"]["requested"] == 6 and scores["requests"] == {"total": 6, "failed": 0, "first_error": ""}
    with pytest.raises(ValueError, match="window must be >= 1"):
        NativeBackend(spy, {}, window=0)
