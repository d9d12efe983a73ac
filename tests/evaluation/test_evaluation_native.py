"""The native backend on a micro model: prompts with chunked audio, thinking budgets, per-item failures."""

import pytest
from conftest import make_mmau

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.evaluation import EvalConfig, GenerationRequest, NativeBackend, run_eval
from mgrd.inference import Engine
from mgrd.model import AudioTokenIds, build_model, micro_config
from mgrd.tasks.registry import load_task


@pytest.fixture(scope="module")
def backend():
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds(s.audio_start, s.audio_end, s.audio_patch),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    return NativeBackend(Engine(build_model(cfg, seed=0), tokenizer), {"kind": "checkpoint", "sha256": "micro"},
                         batch_size=2)


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
