"""The official Step-Audio-R1 client's nine example requests, replayed unchanged against a tiny model.

The shapes are those `stepaudior1vllm.StepAudioR1.stream` builds for `examples-vllm_r1.py`: role
`human`, the `<think>\\n` prefill with `eot: false` (so `continue_final_message`), audio as WAV
chunks of at most 25 s, `skip_special_tokens: false`, `stop_token_ids: [151665]` (the released
`<|EOT|>`, not an id of the tiny vocabulary) and `max_tokens` up to 32000. The client reads the
stream to its end; here each stream is read until its first text, then dropped (the server aborts).
"""

from __future__ import annotations

import json

import httpx
import pytest

from mgrd.serving.official import map_official_ids

from .serving_support import MODEL_NAME, b64, start_server, wav_bytes


@pytest.fixture(scope="module")
def server(engine):
    """The server as `mgrd serve` starts it: default limits."""
    with start_server(engine) as live:
        yield live

MC = "\nPlease choose the answer from the following options, do not provide any additional explanations or content: \n"
SYSTEM_VOICE = "你是一个语音助手，你有非常丰富的音频处理经验。"
SYSTEM_UAC = "你是一位经验丰富的音频分析专家，擅长对各种语音音频进行深入细致的分析。"


def _wav(seconds: float) -> dict:
    return {"type": "input_audio", "input_audio": {"data": b64(wav_bytes(seconds, rate=44100, channels=2)),
                                                   "format": "wav"}}


def _mc(question: str, choices: list[str]) -> str:
    return question + MC + "".join(f"{chr(65 + i)}. {c}\n" for i, c in enumerate(choices))


# name: (system, human content, sampling) as in examples-vllm_r1.py (audio lengths ours: the 29.9 s
# case is the longest chunk the client's reader makes by default).
EXAMPLES = {
    "mmau": (None, [{"type": "text", "text": _mc("Which of the following best describes the male vocal?",
                                                 ["Soft and melodic", "Aggressive and talking",
                                                  "High-pitched and singing", "Whispering"])}, _wav(29.9)],
             dict(max_tokens=32000, temperature=0.7, repetition_penalty=1.0)),
    "mmsu": (None, [{"type": "text", "text": _mc("What type of non-verbal sound is in the audio?",
                                                 ["laugh", "burp", "cough", "yawn"])}, _wav(1.0)],
             dict(max_tokens=32000, temperature=0.7, repetition_penalty=1.0)),
    "spoken_mqa": (None, [{"type": "text", "text": "Solve the given math question step by step."}, _wav(1.5)],
                   dict(max_tokens=32000, temperature=0.7, repetition_penalty=1.0)),
    "big_bench_audio": (None, [_wav(1.0), {"type": "text", "text": '仅用 "valid" 或 "invalid"，"yes" 或 "no"，或者数字来直接回答上面的问题。'}],
                        dict(max_tokens=32000, temperature=0.7, repetition_penalty=1.0)),
    "mmar": (None, [{"type": "text", "text": _mc("Is the first little girl sincerely praising the other?",
                                                 ["Yes", "No"])}, _wav(25.0), _wav(2.0)],
             dict(max_tokens=32000, temperature=0.7, repetition_penalty=1.07)),
    "wild_speech": (None, [_wav(1.0)], dict(max_tokens=32000, temperature=0.7, repetition_penalty=1.0)),
    "uac": (SYSTEM_UAC, [_wav(1.0)], dict(max_tokens=1024, temperature=0.5, top_p=0.9)),
    "song_appreciation": (SYSTEM_VOICE, [{"type": "text", "text": "鉴赏一下这段歌声。"}, _wav(1.0)],
                          dict(max_tokens=2048, temperature=0.7, top_p=0.9)),
    "speaker_trait": (SYSTEM_VOICE, [{"type": "text", "text": "说话人的语气和音色如何反映他的性格和情绪特征？"}, _wav(1.0)],
                      dict(max_tokens=2048, temperature=0.7, top_p=0.9)),
}


def official_payload(system, content, sampling) -> dict:
    """What `StepAudioR1.stream(messages, **sampling, stop_token_ids=[151665])` posts."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "human", "content": content}, {"role": "assistant", "content": "<think>\n", "eot": False}]
    return {**sampling, "stop_token_ids": [151665], "messages": messages, "model": MODEL_NAME, "stream": True,
            "skip_special_tokens": False, "continue_final_message": True, "add_generation_prompt": False}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_official_example_is_served(server, name):
    body = official_payload(*EXAMPLES[name])
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200, r.read().decode()
        chunks = []
        for line in r.iter_lines():
            if line.startswith("data: {"):
                chunks.append(json.loads(line[6:]))
                delta = chunks[-1]["choices"][0]["delta"] if chunks[-1]["choices"] else {}
                if delta.get("content") or delta.get("reasoning_content") or chunks[-1]["choices"][0]["finish_reason"]:
                    break
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(chunks) >= 2   # text (or a finish) followed the role chunk: generation ran


def test_official_stop_id_maps_to_this_vocabulary_and_stops(engine):
    tok = engine.tokenizer
    assert tok.vocab_size < 151665
    body = {"stop_token_ids": [151665, 151643, 151645, 7]}
    assert map_official_ids(body, tok)["stop_token_ids"] == [tok.special.eot, tok.special.endoftext, 7]
    assert map_official_ids({"stop_token_ids": [999_999]}, tok)["stop_token_ids"] == [999_999]  # left to the schema
    assert body == {"stop_token_ids": [151665, 151643, 151645, 7]}      # not mutated


def test_an_unknown_large_stop_id_is_still_refused(server):
    body = {**official_payload(*EXAMPLES["wild_speech"]), "stop_token_ids": [999_999], "stream": False}
    r = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["param"] == "stop_token_ids"


def test_models_states_the_context_and_the_default_max_tokens(server):
    model = httpx.get(server.url + "/v1/models", timeout=30).json()["data"][0]
    assert model["max_model_len"] == 65536 and model["max_model_len"] >= 32000 + 1000
    assert model["default_max_tokens"] == 4096
    assert model["kv_cache_tokens"] > 32000
