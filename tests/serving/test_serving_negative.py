"""The negative suite (reliability-tests.md S1-S7, S12, S16, A1-A6) against a live loopback server.

Every bad request must be a 4xx in the OpenAI envelope, and after each test the server must still
answer /health and a valid request with 200 (S16). All error bodies are collected and checked for
leaks at the end (S7).
"""

from __future__ import annotations

import json
import re
import struct

import httpx
import numpy as np
import pytest

import mgrd.serving.prompt as prompt_module

from .serving_support import MODEL_NAME, audio_part, b64, encode, patch_wav_header, user, wav_bytes

BODIES: list[str] = []   # every error body of this module, for S7
VALID = {"model": MODEL_NAME, "messages": user("hi", audio_part(wav_bytes(0.5))), "max_tokens": 2, "temperature": 0}


@pytest.fixture
def post(server):
    def send(body, *, raw: bytes | None = None, headers: dict | None = None) -> httpx.Response:
        content = raw if raw is not None else json.dumps(body).encode()
        r = httpx.post(server.url + "/v1/chat/completions", content=content, timeout=60,
                       headers={"Content-Type": "application/json", **(headers or {})})
        if r.status_code >= 400:
            BODIES.append(r.text)
        return r
    return send


@pytest.fixture(autouse=True)
def still_serving(server):
    """S16: after every test, /health and one valid request answer 200."""
    yield
    assert httpx.get(server.url + "/health").status_code == 200
    r = httpx.post(server.url + "/v1/chat/completions", json=VALID, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.fixture
def decode_spy(monkeypatch):
    """Counts calls of the base64 decoder and of the audio decoder behind the server."""
    calls = {"base64": 0, "audio": 0}
    real_b64, real_load = prompt_module.decode_base64_audio, prompt_module.load_audio

    def b64_spy(*a, **k):
        calls["base64"] += 1
        return real_b64(*a, **k)

    def load_spy(*a, **k):
        calls["audio"] += 1
        return real_load(*a, **k)

    monkeypatch.setattr(prompt_module, "decode_base64_audio", b64_spy)
    monkeypatch.setattr(prompt_module, "load_audio", load_spy)
    return calls


def _refused(r: httpx.Response, status: int = 400, param: str | None = None, match: str | None = None) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == status
    assert error["message"]
    if param is not None:
        assert error["param"] == param, error
    if match is not None:
        assert re.search(match, error["message"]), error["message"]
    return error


def _with_audio(data: bytes | str, fmt: str = "wav") -> dict:
    return {**VALID, "messages": user("hi", audio_part(data, fmt))}


# -- S1: bodies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [b"{not json", b'"s"', b"[1]", b"42", b"null", b"{}", b"", b"\xff\xfe{}",
                                 b"[" * 100_000, b'{"messages": [], "temperature": NaN}'])
def test_s1_bodies_that_are_not_requests(post, raw):
    _refused(post(None, raw=raw))


@pytest.mark.parametrize("messages, param", [
    ("hi", "messages"), ([], "messages"), ([1], "messages[0]"),
    ([{"role": "robot", "content": "x"}], "messages[0].role"),
    ([{"role": "user"}], "messages[0].content"), ([{"role": "user", "content": 5}], "messages[0].content"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "messages[0].content[0].type"),
    ([{"role": "user", "content": [{"type": "audio", "audio": "/etc/passwd"}]}], "messages[0].content[0].type"),
    ([{"role": "user", "content": ["text"]}], "messages[0].content[0].type"),
    ([{"role": "user", "content": [{"type": "text", "text": 3}]}], "messages[0].content[0].text"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "eot": "no"}], "messages[1].eot"),
])
def test_s1_malformed_messages(post, messages, param):
    _refused(post({"model": MODEL_NAME, "messages": messages}), param=param)


def test_s1_continue_final_message_needs_an_assistant_turn(post):
    _refused(post({**VALID, "continue_final_message": True, "add_generation_prompt": False}), param="messages")


def test_s1_audio_placeholder_in_text_is_refused(post):
    _refused(post({**VALID, "messages": user("<audio_patch>")}), param="messages")


# -- S2: malformed base64 -----------------------------------------------------------------------------
GOOD = b64(wav_bytes(0.5))


@pytest.mark.parametrize("data", ["!!!!" + GOOD, GOOD[:-1], GOOD[:40] + "data:audio/wav;base64," + GOOD[40:],
                                  GOOD[:40] + "\n" + GOOD[40:], GOOD[:40] + " " + GOOD[40:], "AAAA====",
                                  GOOD.replace("+", "-").replace("/", "_") + "-_"])
def test_s2_malformed_base64_is_refused_before_decoding(post, decode_spy, data):
    _refused(post(_with_audio(data)), param="messages[0].content[1].input_audio.data", match="base64")
    assert decode_spy["audio"] == 0


def test_s2_empty_data(post, decode_spy):
    _refused(post(_with_audio("")), param="messages[0].content[1].input_audio.data")
    assert decode_spy == {"base64": 0, "audio": 0}


# -- S3: base64 of things that are not audio ----------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WAV_HEADER_ONLY = wav_bytes(0.5)[:44]


@pytest.mark.parametrize("data", [PNG, b'{"a": 1}', b"\x01", WAV_HEADER_ONLY,
                                  np.random.default_rng(0).bytes(1_000_000)], ids=["png", "json", "1byte",
                                                                                  "wavheader", "random1mb"])
def test_s3_valid_base64_of_non_audio(post, data):
    error = _refused(post(_with_audio(data)), param="messages[0].content[1].input_audio.data")
    assert "object at" not in error["message"] and "Error" not in error["message"]


# -- S4: sizes are checked before decoding ------------------------------------------------------------
def test_s4_oversized_audio_part_is_refused_before_base64_decoding(post, server, decode_spy):
    over = b64(b"\x00" * (server.state.settings.max_audio_bytes + 3))
    _refused(post(_with_audio(over)), param="messages[0].content[1].input_audio.data", match="larger than")
    assert decode_spy == {"base64": 0, "audio": 0}


def test_s4_body_over_the_cap_is_413(post, server, decode_spy):
    cap = server.state.settings.max_request_bytes
    body = json.dumps({**VALID, "pad": "x" * (2 * cap)}).encode()
    try:
        r = post(None, raw=body)
    except httpx.TransportError:
        return  # the server may close the connection on the oversized upload: also a refusal
    _refused(r, status=413)
    assert decode_spy == {"base64": 0, "audio": 0}


def test_s4_lying_content_length_is_still_capped(server, decode_spy):
    cap = server.state.settings.max_request_bytes

    def chunks():  # chunked transfer: no Content-Length at all
        for _ in range(2 * cap // 65536 + 1):
            yield b"x" * 65536

    try:
        r = httpx.post(server.url + "/v1/chat/completions", content=chunks(), timeout=60)
    except httpx.TransportError:
        return
    BODIES.append(r.text)
    _refused(r, status=413)


# -- S5: too many audio parts -------------------------------------------------------------------------
def test_s5_too_many_audio_parts(post, server):
    limit = server.state.settings.max_audio_parts
    parts = [audio_part(wav_bytes(0.2)) for _ in range(limit + 1)]
    _refused(post({**VALID, "messages": user("hi", *parts)}), param="messages", match=f"at most {limit}")


# -- S6: wrong shapes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("part, param", [
    ({"type": "audio_url", "audio_url": "http://127.0.0.1:1/a.wav"}, "messages[0].content[1]"),
    ({"type": "audio_url", "audio_url": {"url": "file:///etc/passwd"}}, "messages[0].content[1]"),
    ({"type": "input_audio", "input_audio": {"format": "wav"}}, "messages[0].content[1].input_audio.data"),
    ({"type": "input_audio", "input_audio": "AAAA"}, "messages[0].content[1].input_audio"),
    ({"type": "input_audio", "input_audio": {"data": GOOD, "format": "exe"}},
     "messages[0].content[1].input_audio.format"),
])
def test_s6_wrong_part_shapes(post, part, param):
    _refused(post({**VALID, "messages": user("hi", part)}), param=param)


def test_s6_audio_in_a_system_message(post):
    messages = [{"role": "system", "content": [audio_part(wav_bytes(0.2))]}] + user("hi")
    _refused(post({**VALID, "messages": messages}), param="messages[0].content[0]", match="user")


# -- S12: sampling parameters out of range ------------------------------------------------------------
@pytest.mark.parametrize("field, value, status", [
    ("n", 17, 400), ("n", 0, 400), ("max_tokens", 10**6, 400), ("max_tokens", 0, 400),
    ("max_completion_tokens", -1, 400), ("temperature", -0.5, 400), ("temperature", 1e9, 400),
    ("temperature", "hot", 400), ("top_p", 0, 400), ("top_p", 1.5, 400), ("seed", -1, 400),
    ("stop_token_ids", [10**9], 400), ("stop", [""], 400), ("stop", ["a"] * 17, 400),
    ("repetition_penalty", 0, 400), ("stream", "yes", 400), ("thinking_budget", -3, 400),
    ("reasoning_effort", "ultra", 400), ("logprobs", True, 400), ("presence_penalty", 0.5, 400),
    ("model", "gpt-4o", 404), ("stream_options", [], 400),
])
def test_s12_out_of_range_parameters(post, field, value, status):
    _refused(post({**VALID, field: value}), status=status, param=field)


def test_s12_two_thinking_budgets_contradict(post):
    _refused(post({**VALID, "thinking_budget": 5, "reasoning_effort": "low"}), param="reasoning_effort")


# -- A1-A6: audio that is empty, forged or hostile ----------------------------------------------------
@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"),
                                          ("MP3", "MPEG_LAYER_III")])
def test_a1_zero_frames(post, fmt, subtype):
    _refused(post(_with_audio(encode(np.zeros((0, 1), np.float32), 16000, fmt, subtype))),
             match="empty|no audio|decod")


def test_a1_one_sample_is_accepted(post):
    r = post(_with_audio(encode(np.full(1, 0.1, np.float32), 16000)))
    assert r.status_code == 200, r.text


def test_a2_data_chunk_claiming_4_gb(post):
    wav = bytearray(encode(np.zeros(490, np.int16), 16000))
    p = wav.find(b"data")
    wav[p + 4:p + 8] = struct.pack("<I", 0xFFFFFFF0)
    wav[4:8] = struct.pack("<I", 0xFFFFFFF0)
    r = post(_with_audio(bytes(wav)))
    assert r.status_code in (200, 400), r.text


def test_a3_long_silence_bomb_is_refused_by_duration(post, server):
    seconds = server.state.settings.max_audio_seconds + 60
    bomb = encode(np.zeros(int(seconds * 8000), np.float32), 8000, "OGG", "OPUS")
    assert len(bomb) < 200_000  # a few KB claiming minutes of audio
    _refused(post(_with_audio(bomb, "ogg")), match="duration")


def test_a4_forged_flac_sample_rate(post):
    flac = encode(np.zeros((1000, 8), np.float32), 655350, "FLAC", "PCM_16")
    _refused(post(_with_audio(flac, "flac")), match="655350")


@pytest.mark.parametrize("rate, ok", [(0, False), (1, False), (7, False), (8000, True), (16000, True),
                                      (44100, True), (192000, True), (655350, False)])
def test_a5_sample_rates(post, rate, ok):
    wav = patch_wav_header(encode(np.zeros(800, np.int16), 8000), rate=rate)
    r = post(_with_audio(wav))
    assert r.status_code == (200 if ok else 400), r.text


@pytest.mark.parametrize("channels, ok", [(0, False), (1, True), (2, True), (8, True), (255, False)])
def test_a5_channel_counts(post, channels, ok):
    wav = encode(np.zeros((800, max(channels, 1)), np.int16), 16000) if ok else \
        patch_wav_header(encode(np.zeros((800, 1), np.int16), 16000), channels=channels)
    r = post(_with_audio(wav))
    assert r.status_code == (200 if ok else 400), r.text


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e30])
def test_a6_non_finite_float_wav(post, value):
    x = np.full(1600, 0.1, np.float32)
    x[800] = value
    _refused(post(_with_audio(encode(x, 16000, "WAV", "FLOAT"))))


def test_a6_denormals_are_accepted(post):
    r = post(_with_audio(encode(np.full(1600, 1e-40, np.float32), 16000, "WAV", "FLOAT")))
    assert r.status_code == 200, r.text


def test_internal_audio_part_types_cannot_reach_files(post, tmp_path):
    secret = tmp_path / "secret.wav"
    secret.write_bytes(wav_bytes(0.5))
    r = post({**VALID, "messages": [{"role": "user", "content": [{"type": "audio", "audio": str(secret)}]}]})
    _refused(r, param="messages[0].content[0].type")


# -- S7: no error body leaks internals (runs last) ----------------------------------------------------
def test_s7_no_error_body_leaks(post):
    # A few more error kinds, so that S7 sees every route's refusals.
    for raw in (b"{", b"[]"):
        post(None, raw=raw)
    assert len(BODIES) > 60
    leak = re.compile(r"0x[0-9a-fA-F]{6,}|Traceback|<_io\.|object at|(?<![\w.])/(home|tmp|root|usr|etc|var|work)/")
    for body in BODIES:
        error = json.loads(body)["error"]
        assert not leak.search(body), body
        assert error["type"] and isinstance(error["code"], int)
