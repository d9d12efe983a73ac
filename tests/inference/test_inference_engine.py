"""The native engine against the model's plain full forward, and its sampling behaviour."""

import pytest
import torch

from mgrd.audio import log_mel
from mgrd.chat import NO_THINK_PREFILL, encode_prompt
from mgrd.inference import Engine, Prompt, SamplingParams
from mgrd.inference.conversation import build_prompt


def _prompt(tokenizer, question, audio=None):
    content = [{"type": "text", "text": question}]
    if audio is not None:
        content.append({"type": "audio", "audio": (audio, 16000)})
    return build_prompt([{"role": "user", "content": content}], tokenizer)


def _reference_greedy(model, prompt: Prompt, steps: int, stop_ids) -> tuple[list[int], list[float]]:
    """Greedy decoding by recomputing the full forward over the whole sequence at every step."""
    ids = list(prompt.input_ids)
    out, logprobs = [], []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(torch.tensor([ids]), list(prompt.audio_mels) or None).logits[0, -1]
            token = int(logits.argmax())
            out.append(token)
            logprobs.append(float(torch.log_softmax(logits.float(), -1)[token]))
            ids.append(token)
            if token in stop_ids:
                break
    return out, logprobs


def test_kv_cache_greedy_equals_full_forward(micro_model, tokenizer, tone):
    engine = Engine(micro_model, tokenizer)
    prompt = _prompt(tokenizer, "Which tone is higher?", tone)
    assert len(prompt.audio_mels) == 1
    gen = engine.generate([prompt], SamplingParams(max_tokens=24, temperature=0))[0][0]
    ref, ref_lp = _reference_greedy(micro_model, prompt, 24, engine.default_stop_ids)
    assert gen.token_ids == ref
    assert gen.logprobs == pytest.approx(ref_lp, abs=1e-4)
    assert all(gen.sampled_mask)


def test_batched_equals_one_by_one(micro_model, tokenizer, tone):
    engine = Engine(micro_model, tokenizer)
    prompts = [_prompt(tokenizer, "Which tone is higher?", tone), _prompt(tokenizer, "hi"),
               _prompt(tokenizer, "Count the beeps in this long question, then add five.", tone[:8000])]
    assert len({len(p.input_ids) for p in prompts}) == 3  # different lengths: left padding is exercised
    params = SamplingParams(max_tokens=16, temperature=0)
    batched = engine.generate(prompts, params)
    for prompt, result in zip(prompts, batched):
        alone = engine.generate([prompt], params)[0][0]
        assert result[0].token_ids == alone.token_ids
        assert result[0].logprobs == pytest.approx(alone.logprobs, abs=1e-4)


def test_thinking_budget_forces_close(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    prompt = _prompt(tokenizer, "Think briefly.")
    budget = 5
    gen = engine.generate([prompt], SamplingParams(max_tokens=30, temperature=0, thinking_budget=budget))[0][0]
    close = list(engine.close_ids)
    # The random model never closes on its own: the engine closes after exactly `budget` tokens.
    assert gen.num_reasoning_tokens == budget
    assert gen.token_ids[budget:budget + len(close)] == close
    assert gen.sampled_mask[:budget] == [True] * budget
    assert gen.sampled_mask[budget:budget + len(close)] == [False] * len(close)
    assert "</think>" in tokenizer.decode(gen.token_ids)
    assert gen.reasoning == tokenizer.decode(gen.token_ids[:budget]).strip()


def test_no_think_prefills_closed_block(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    prompt = _prompt(tokenizer, "Answer now.")
    gen = engine.generate([prompt], SamplingParams(max_tokens=8, temperature=0, thinking_budget=0))[0][0]
    prefilled = Prompt(prompt.input_ids + tuple(tokenizer.encode(NO_THINK_PREFILL)))
    ref, _ = _reference_greedy(micro_model, prefilled, 8, engine.default_stop_ids)
    assert gen.token_ids == ref
    assert gen.reasoning == "" and gen.num_reasoning_tokens == 0


def test_stop_token_and_length(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    prompt = _prompt(tokenizer, "hi")
    free = engine.generate([prompt], SamplingParams(max_tokens=6, temperature=0))[0][0]
    assert free.finish_reason == "length" and len(free.token_ids) == 6
    stop_at = free.token_ids[2]
    stopped = engine.generate([prompt], SamplingParams(max_tokens=6, temperature=0,
                                                       stop_token_ids=(stop_at,)))[0][0]
    first = free.token_ids.index(stop_at)
    assert stopped.finish_reason == "stop"
    assert stopped.token_ids == free.token_ids[:first + 1]
    assert stopped.text == tokenizer.decode(free.token_ids[:first])


def test_seeded_sampling_is_reproducible_and_batch_independent(micro_model, tokenizer, tone):
    engine = Engine(micro_model, tokenizer)
    a, b = _prompt(tokenizer, "Which tone is higher?", tone), _prompt(tokenizer, "hi")
    params = SamplingParams(max_tokens=12, temperature=1.0, top_p=0.9, n=3, seed=7)
    alone = engine.generate([a], params)[0]
    again = engine.generate([a, b], [params, SamplingParams(max_tokens=5, temperature=0.5, seed=1)])[0]
    assert [g.token_ids for g in alone] == [g.token_ids for g in again]
    assert len({tuple(g.token_ids) for g in alone}) > 1  # the n samples differ


def test_stream_joined_equals_generate(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    prompts = [_prompt(tokenizer, "Think briefly."), _prompt(tokenizer, "hi there")]
    params = SamplingParams(max_tokens=20, temperature=0, thinking_budget=6)
    whole = engine.generate(prompts, params)
    joined: dict = {}
    finishes: dict = {}
    for ev in engine.stream(prompts, params):
        key = (ev.prompt_index, ev.sample_index)
        r, a, ids = joined.get(key, ("", "", []))
        joined[key] = (r + ev.reasoning, a + ev.answer, ids + ev.token_ids)
        if ev.finish_reason:
            assert key not in finishes
            finishes[key] = ev.finish_reason
    for i, result in enumerate(whole):
        g = result[0]
        assert joined[(i, 0)] == (g.reasoning, g.answer, g.token_ids)
        assert finishes[(i, 0)] == g.finish_reason


def test_stop_string(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    prompt = _prompt(tokenizer, "hi")
    free = engine.generate([prompt], SamplingParams(max_tokens=12, temperature=0, thinking_budget=0))[0][0]
    assert len(free.answer) > 4
    stop = free.answer[2:4]
    cut = engine.generate([prompt], SamplingParams(max_tokens=12, temperature=0, thinking_budget=0,
                                                   stop=(stop,)))[0][0]
    assert cut.finish_reason == "stop"
    assert cut.answer == free.answer[:free.answer.index(stop)].strip()


def test_prompt_ids_match_encode_prompt(tokenizer, tone):
    prompt = _prompt(tokenizer, "Which tone is higher?", tone)
    mel = log_mel(tone)
    from mgrd.audio import num_audio_tokens

    expected = encode_prompt([{"role": "user", "content": [{"type": "text", "text": "Which tone is higher?"},
                                                            {"type": "audio"}]}],
                             [num_audio_tokens(mel.shape[-1])], tokenizer)
    assert list(prompt.input_ids) == expected.input_ids
    assert torch.equal(prompt.audio_mels[0], mel)


def test_engine_follows_weight_updates(tokenizer, tone):
    """After an in-place update (as an optimizer step does), the engine uses the new weights."""
    from mgrd.model import AudioTokenIds, build_model, micro_config

    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds.of(s))
    model = build_model(cfg, seed=3).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    engine = Engine(model, tokenizer)
    prompt = _prompt(tokenizer, "hi", tone)
    params = SamplingParams(max_tokens=10, temperature=0)
    before = engine.generate([prompt], params)[0][0].token_ids
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.add_(torch.randn_like(layer.self_attn.q_proj.weight))
            layer.mlp.up_proj.weight.mul_(-1.0)
    after = engine.generate([prompt], params)[0][0].token_ids
    ref, _ = _reference_greedy(model, prompt, 10, engine.default_stop_ids)
    assert after == ref
    assert after != before
