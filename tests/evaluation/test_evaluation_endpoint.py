"""The endpoint backend against a loopback fake server: request shapes, retries only for 429/5xx/connection
errors, timeouts, malformed replies, bounded concurrency."""

import base64
import io
import random

import httpx
import pytest
import soundfile as sf
from conftest import tone

from mgrd.evaluation import EndpointBackend, GenerationRequest, RetryPolicy
from mgrd.evaluation.fake_endpoint import FakeReply
from mgrd.remote.retry import RequestFailed, post_json

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
SAMPLING = {"max_tokens": 64, "temperature": 0.7, "top_p": 1.0, "repetition_penalty": 1.0, "seed": 0,
            "thinking_budget": None}


def request(audio, key="aa", **sampling):
    messages = [{"role": "user", "content": [{"type": "text", "text": "Q?"}, {"type": "audio", "audio": str(audio)}]}]
    return GenerationRequest(key, messages, {**SAMPLING, **sampling})


def run_one(url, req, **kw):
    backend = EndpointBackend(url, "m", retry=kw.pop("retry", FAST), **kw)
    try:
        return list(backend.run([req]))[0]
    finally:
        backend.close()


def test_official_request_shape(fake, tmp_path):
    server = fake(lambda b, n: FakeReply("The pitch rises.\n</think>\nB"))
    clip = tone(tmp_path / "long.wav", seconds=30.0)                 # 30 s -> a 25 s and a 5 s chunk
    result = run_one(server.url, request(clip, repetition_penalty=1.07))
    body = server.bodies[0]
    human, prefill = body["messages"]
    assert human["role"] == "human" and [p["type"] for p in human["content"]] == ["text", "input_audio", "input_audio"]
    seconds = [sf.info(io.BytesIO(base64.b64decode(p["input_audio"]["data"]))).duration for p in human["content"][1:]]
    assert seconds == [25.0, 5.0] and human["content"][1]["input_audio"]["format"] == "wav"
    assert prefill == {"role": "assistant", "content": "<think>\n", "eot": False}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["stop_token_ids"] == [151665] and body["skip_special_tokens"] is False
    assert body["repetition_penalty"] == 1.07 and body["seed"] == 0 and "thinking_budget" not in body
    assert (result.status, result.reasoning, result.answer, result.well_formed) == ("ok", "The pitch rises.", "B", True)


def test_no_think_prefill_and_budget_field(fake, tmp_path):
    server = fake(lambda b, n: FakeReply("C"))
    clip = tone(tmp_path / "a.wav")
    result = run_one(server.url, request(clip, thinking_budget=0))
    assert server.bodies[0]["messages"][-1]["content"] == "<think>\n\n</think>\n"
    assert (result.reasoning, result.answer) == ("", "C")
    run_one(server.url, request(clip, thinking_budget=64))
    assert server.bodies[1]["thinking_budget"] == 64


def test_openai_shape_and_reasoning_content(fake, tmp_path):
    server = fake(lambda b, n: FakeReply("B", reasoning_content="I hear a high tone."))
    result = run_one(server.url, request(tone(tmp_path / "a.wav")), shape="openai")
    body = server.bodies[0]
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert "continue_final_message" not in body and "stop_token_ids" not in body
    assert (result.reasoning, result.answer) == ("I hear a high tone.", "B")


def test_429_and_500_are_retried(fake, tmp_path):
    server = fake(lambda b, n: FakeReply(status=429) if n == 1 else FakeReply(status=503) if n == 2 else FakeReply("x\n</think>\nA"))
    result = run_one(server.url, request(tone(tmp_path / "a.wav")))
    assert (result.status, result.answer, result.attempts, len(server.bodies)) == ("ok", "A", 3, 3)


def test_5xx_beyond_max_attempts_fails(fake, tmp_path):
    server = fake(lambda b, n: FakeReply(status=500))
    result = run_one(server.url, request(tone(tmp_path / "a.wav")))
    assert result.status == "failed" and "gave up after 3 tries: HTTP 500" in result.error
    assert len(server.bodies) == 3 and result.answer == ""


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_4xx_is_never_retried(fake, tmp_path, status):
    server = fake(lambda b, n: FakeReply(status=status))
    result = run_one(server.url, request(tone(tmp_path / "a.wav")))
    assert result.status == "failed" and f"HTTP {status}" in result.error and len(server.bodies) == 1


def test_hang_times_out_and_is_retried(fake, tmp_path):
    server = fake(lambda b, n: FakeReply("x\n</think>\nA", delay_s=2.0 if n == 1 else 0.0))
    result = run_one(server.url, request(tone(tmp_path / "a.wav")), timeout_s=0.3)
    assert (result.status, result.attempts, len(server.bodies)) == ("ok", 2, 2)
    server2 = fake(lambda b, n: FakeReply("A", delay_s=2.0))
    failed = run_one(server2.url, request(tone(tmp_path / "a.wav")), timeout_s=0.2,
                     retry=RetryPolicy(max_attempts=2, base_delay=0.0))
    assert failed.status == "failed" and "timed out" in failed.error


@pytest.mark.parametrize("reply, message", [
    (FakeReply(raw=b"<html>oops"), "not JSON"),
    (FakeReply(raw=b'{"choices": []}'), "no choices[0].message"),
    (FakeReply(content=None), "content is NoneType"),
])
def test_malformed_replies_fail_without_retry(fake, tmp_path, reply, message):
    server = fake(lambda b, n: reply)
    result = run_one(server.url, request(tone(tmp_path / "a.wav")))
    assert result.status == "failed" and message in result.error and len(server.bodies) == 1


def test_connection_refused_is_retried_then_fails(tmp_path):
    result = run_one("http://127.0.0.1:9/v1", request(tone(tmp_path / "a.wav")))
    assert result.status == "failed" and "connection error" in result.error and result.attempts == 3


def test_concurrency_is_bounded(fake, tmp_path):
    server = fake(lambda b, n: FakeReply("A", delay_s=0.15))
    clip = tone(tmp_path / "a.wav")
    backend = EndpointBackend(server.url, "m", concurrency=3, retry=FAST)
    results = list(backend.run([request(clip, key=f"{i:02x}") for i in range(9)]))
    backend.close()
    assert sorted(r.key for r in results) == [f"{i:02x}" for i in range(9)]
    assert server.max_in_flight == 3


def test_unreadable_audio_fails_that_item_only(fake, tmp_path):
    server = fake(lambda b, n: FakeReply("A"))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    result = run_one(server.url, request(bad))
    assert result.status == "failed" and len(server.bodies) == 0


def test_retry_policy_delays():
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=4.0)
    rng = random.Random(0)
    delays = [policy.delay(k, rng=rng) for k in (1, 2, 3, 4)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 2.0 <= delays[2] <= 4.0 and 2.0 <= delays[3] <= 4.0
    assert policy.delay(1, retry_after=3.0) == 3.0 and policy.delay(1, retry_after=60.0, rng=rng) <= 1.0
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_post_json_honours_retry_after(fake):
    server = fake(lambda b, n: FakeReply(status=429, headers={"Retry-After": "0.25"}) if n == 1 else FakeReply("A"))
    waits = []
    with httpx.Client() as client:
        data, attempts = post_json(client, server.url + "/chat/completions", {}, RetryPolicy(3, 0.01, 1.0),
                                   sleep=waits.append)
    assert attempts == 2 and waits == [0.25] and data["choices"][0]["message"]["content"] == "A"
    with httpx.Client() as client, pytest.raises(RequestFailed) as e:
        post_json(client, "http://127.0.0.1:9/v1/chat/completions", {}, RetryPolicy(1, 0, 0))
    assert e.value.retryable
