"""The API against a live loopback server: the openai SDK, streaming and not, the official client's request shape."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from mgrd.chat import render

from .serving_support import MODEL_NAME, audio_part, start_server, user, wav_bytes


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def _sse_lines(url: str, body: dict) -> list[str]:
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        return [line for line in r.iter_lines() if line]


def test_models_and_health(server, client):
    assert [m.id for m in client.models.list().data] == [MODEL_NAME]
    r = httpx.get(server.url + "/health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("budget", [None, 3, 0])
def test_stream_joins_to_the_non_streamed_result(client, budget):
    """S8: greedy, stream vs not: joined deltas equal the message, one finish chunk, usage agrees."""
    extra = {} if budget is None else {"thinking_budget": budget}
    kwargs = dict(model=MODEL_NAME, messages=user("hello there", audio_part(wav_bytes(1.0))),
                  max_tokens=12, temperature=0, extra_body=extra)
    whole = client.chat.completions.create(**kwargs)
    message = whole.choices[0].message
    reasoning, content, finishes, usage = [], [], [], None
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
            content.append(choice.delta.content or "")
            if choice.finish_reason is not None:
                finishes.append(choice.finish_reason)
    assert "".join(content) == message.content
    assert "".join(reasoning) == message.reasoning_content
    assert finishes == [whole.choices[0].finish_reason]
    assert usage.model_dump() == whole.usage.model_dump()
    assert "<think>" not in message.content and "</think>" not in message.content
    details = whole.usage.completion_tokens_details
    assert whole.usage.completion_tokens == 12 or whole.choices[0].finish_reason == "stop"
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    if budget == 0:
        assert message.reasoning_content == "" and details.reasoning_tokens == 0
    else:
        assert details.reasoning_tokens > 0 and message.reasoning_content
    if budget == 3:
        assert details.reasoning_tokens == 3 and message.content  # the budget closed the reasoning


def test_raw_stream_ends_with_done_and_has_one_finish(server):
    lines = _sse_lines(server.url, {"messages": user("hi"), "max_tokens": 6, "temperature": 0, "stream": True})
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert sum(c["choices"][0]["finish_reason"] is not None for c in chunks) == 1
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1


def test_prompt_tokens_count_audio(client, engine):
    text_only = client.chat.completions.create(model=MODEL_NAME, messages=user("hi"), max_tokens=1, temperature=0)
    with_audio = client.chat.completions.create(model=MODEL_NAME, messages=user("hi", audio_part(wav_bytes(1.0))),
                                                max_tokens=1, temperature=0)
    # 1 s = 16000 samples -> 102 mel frames -> 13 audio tokens, plus <audio_start>, <audio_end>, and
    # the "\n" that joins the text part to the audio part.
    newline = len(engine.tokenizer.encode("hi\n")) - len(engine.tokenizer.encode("hi"))
    assert with_audio.usage.prompt_tokens - text_only.usage.prompt_tokens == 13 + 2 + newline


def test_n_samples_get_their_own_index(client):
    out = client.chat.completions.create(model=MODEL_NAME, messages=user("hi"), max_tokens=4, n=3,
                                         temperature=1.0, seed=7)
    assert [c.index for c in out.choices] == [0, 1, 2]
    assert out.usage.completion_tokens == sum(4 for _ in out.choices)
    streamed = {}
    for chunk in client.chat.completions.create(model=MODEL_NAME, messages=user("hi"), max_tokens=4, n=3,
                                                temperature=1.0, seed=7, stream=True):
        for c in chunk.choices:
            streamed.setdefault(c.index, []).append(getattr(c.delta, "reasoning_content", None) or "")
    assert sorted(streamed) == [0, 1, 2]
    # Seeded sampling gives each sample the same tokens, streamed or not.
    assert ["".join(streamed[i]) for i in range(3)] == [c.message.reasoning_content for c in out.choices]


def test_official_client_request_shape(server, engine):
    """Role human, two WAV chunks, assistant prefill `<think>\\n` with eot false, stop_token_ids."""
    eot = engine.tokenizer.special.eot
    body = {"model": MODEL_NAME, "messages": [
        {"role": "system", "content": "You are an audio expert."},
        {"role": "human", "content": [{"type": "text", "text": "What is this?"},
                                      audio_part(wav_bytes(1.0, rate=44100, channels=2)),
                                      audio_part(wav_bytes(0.5, rate=22050))]},
        {"role": "assistant", "content": "<think>\n", "eot": False}],
        "continue_final_message": True, "add_generation_prompt": False, "skip_special_tokens": False,
        "stream": True, "max_tokens": 8, "temperature": 0.7, "repetition_penalty": 1.0, "stop_token_ids": [eot],
        "stream_options": {"include_usage": True}}
    lines = _sse_lines(server.url, body)
    assert lines[-1] == "data: [DONE]"
    usage = json.loads(lines[-2].removeprefix("data: "))["usage"]
    # The prompt ends with the generation prompt exactly once: same length as the plain request.
    plain = [{"role": "system", "content": "You are an audio expert."},
             {"role": "user", "content": [{"type": "text", "text": "What is this?"}, {"type": "audio"},
                                          {"type": "audio"}]}]
    text = render(plain, add_generation_prompt=True)
    assert text.endswith("<|BOT|>assistant\n<think>\n")
    # Each <audio_patch> placeholder becomes <audio_start> + N patches + <audio_end>: 1 s -> N = 13,
    # 0.5 s -> N = 7 (format reference 5.4).
    assert usage["prompt_tokens"] == len(engine.tokenizer.encode(text)) - 2 + (13 + 2) + (7 + 2)


def test_reasoning_effort_none_answers_at_once(client):
    out = client.chat.completions.create(model=MODEL_NAME, messages=user("hi"), max_tokens=5, temperature=0,
                                         reasoning_effort="none")
    assert out.choices[0].message.reasoning_content == ""
    assert out.usage.completion_tokens_details.reasoning_tokens == 0


def test_include_reasoning_false_hides_reasoning_but_counts_it(client):
    out = client.chat.completions.create(model=MODEL_NAME, messages=user("hi"), max_tokens=5, temperature=0,
                                         extra_body={"include_reasoning": False})
    assert getattr(out.choices[0].message, "reasoning_content", None) is None
    assert out.usage.completion_tokens_details.reasoning_tokens > 0


def test_stop_string_ends_the_sample(client):
    free = client.chat.completions.create(model=MODEL_NAME, messages=user("hi"), max_tokens=10, temperature=0,
                                          reasoning_effort="none")
    text = free.choices[0].message.content
    assert len(text) >= 4, "the random model should write a few characters"
    stop = text[-3:]
    cut = client.chat.completions.create(model=MODEL_NAME, messages=user("hi"), max_tokens=10, temperature=0,
                                         reasoning_effort="none", stop=[stop])
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == text[:text.find(stop)].strip()


def test_api_key_protects_every_route_but_health(engine):
    """S14: without the key only /health answers; with it, routes work."""
    with start_server(engine, api_key="sekret") as live:
        for method, path in [("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/docs"),
                             ("GET", "/openapi.json"), ("GET", "/metrics"), ("GET", "/nope")]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sekret"}):
                r = httpx.request(method, live.url + path, headers=headers, json={})
                assert r.status_code == 401, (path, headers)
                assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        assert httpx.get(live.url + "/health").status_code == 200
        ok = openai.OpenAI(base_url=live.url + "/v1", api_key="sekret", max_retries=0)
        assert ok.chat.completions.create(model=MODEL_NAME, messages=user("hi"), max_tokens=2).choices
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=live.url + "/v1", api_key="nope", max_retries=0).models.list()
        r = httpx.get(live.url + "/docs", headers={"Authorization": "Bearer sekret"})
        assert r.status_code == 404 and r.json()["error"]["code"] == 404
