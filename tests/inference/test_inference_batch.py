"""Continuous batching over the paged KV pool: joining mid-flight changes nothing, memory is reserved
per request and handed back when a row leaves."""

import torch

from mgrd.inference import Engine, SamplingParams
from mgrd.inference.conversation import build_prompt
from mgrd.inference.engine import KV_BLOCK


def _prompt(tokenizer, text):
    return build_prompt([{"role": "user", "content": text}], tokenizer)


def _run(batch, joins: dict, steps: int = 200) -> dict:
    """Step `batch`; at step k add the requests `joins[k]` = [(key, prompt, params)]; tokens per (key, sample)."""
    out: dict = {}
    for k in range(steps):
        for key, prompt, params in joins.get(k, []):
            assert batch.add(key, prompt, params)
        if batch.idle and k > max(joins):
            break
        _, finished = batch.step()
        for g in finished:
            out[(g.prompt_index, g.sample_index)] = g.token_ids
    return out


def test_greedy_and_seeded_outputs_are_the_same_alone_or_joining_mid_flight(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    a, b = _prompt(tokenizer, "Which tone is higher?"), _prompt(tokenizer, "hi")
    greedy = SamplingParams(max_tokens=20, temperature=0)
    seeded = SamplingParams(max_tokens=12, temperature=1.0, seed=11, n=2)
    alone = {}
    for key, prompt, params in (("a", a, greedy), ("b", b, greedy), ("s", b, seeded)):
        alone.update(_run(engine.continuous_batch(4096, stream=False), {0: [(key, prompt, params)]}))
    joined = _run(engine.continuous_batch(4096, stream=False),
                  {0: [("a", a, greedy)], 5: [("b", b, greedy)], 9: [("s", b, seeded)]})
    assert joined == alone
    assert len(joined[("a", 0)]) == 20 or joined[("a", 0)][-1] in engine.default_stop_ids
    assert joined[("s", 0)] != joined[("s", 1)]     # the two seeded samples differ from each other


def test_kv_blocks_are_reserved_per_request_and_returned_without_moving_other_rows(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    batch = engine.continuous_batch(64 * KV_BLOCK, stream=False)
    pool = batch.pool
    full = pool.free_blocks
    assert full == 63                                   # 64 blocks less the null block
    short, long = _prompt(tokenizer, "hi"), _prompt(tokenizer, "Which tone is higher?")
    p_short, p_long = SamplingParams(max_tokens=3, temperature=0), SamplingParams(max_tokens=40, temperature=0, n=2)
    assert batch.add("short", short, p_short)
    need_short = -(-(len(short.input_ids) + 3) // KV_BLOCK)
    assert pool.free_blocks == full - need_short
    assert batch.add("long", long, p_long)
    need_long = 2 * -(-(len(long.input_ids) + 40) // KV_BLOCK)   # n counts: two rows
    assert pool.free_blocks == full - need_short - need_long
    storage = [t.data_ptr() for t in pool.keys]
    batch.step()
    long_rows = [r for r in batch.rows if r.key == "long"]
    before = [pool.read(0, r.table[:r.length])[0] for r in long_rows]
    while any(r.key == "short" for r in batch.rows):
        batch.step()
    assert pool.free_blocks == full - need_long         # the short request's blocks came back
    assert [t.data_ptr() for t in pool.keys] == storage  # no reallocation, no copy of the cache
    for r, old in zip(long_rows, before):
        assert torch.equal(pool.read(0, r.table[:old.shape[0]])[0], old)
    while not batch.idle:
        batch.step()
    assert pool.free_blocks == full


def test_n_counts_against_the_budget_and_requests_wait_for_room(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    prompt = _prompt(tokenizer, "hi")
    params = SamplingParams(max_tokens=8, temperature=0)
    blocks = -(-(len(prompt.input_ids) + 8) // KV_BLOCK)
    batch = engine.continuous_batch((blocks + 1) * KV_BLOCK, stream=False)   # room for one row
    assert batch.fits_ever(prompt, params)
    assert not batch.fits_ever(prompt, SamplingParams(max_tokens=8, temperature=0, n=2))
    assert batch.add(1, prompt, params)
    assert not batch.add(2, prompt, params)              # waits: the pool is taken
    while not batch.idle:
        batch.step()
    assert batch.add(2, prompt, params)


def test_generate_under_a_small_budget_equals_generate_without_one(micro_model, tokenizer):
    prompts = [_prompt(tokenizer, t) for t in ("hi", "Which tone is higher?", "Count the beeps.")]
    params = SamplingParams(max_tokens=10, temperature=0)
    free = Engine(micro_model, tokenizer).generate(prompts, params)
    tight = Engine(micro_model, tokenizer, kv_cache_tokens=6 * KV_BLOCK).generate(prompts, params)
    assert [[g.token_ids for g in r] for r in tight] == [[g.token_ids for g in r] for r in free]


def test_reasoning_state_comes_from_the_prompt_tail(micro_model, tokenizer):
    engine = Engine(micro_model, tokenizer)
    enc = tokenizer.encode
    assert engine.reasoning_open_after(enc("<|BOT|>human\nq<|EOT|><|BOT|>assistant\n<think>\n"))
    assert not engine.reasoning_open_after(enc("<|BOT|>human\nq<|EOT|><|BOT|>assistant\n<think>\n\n</think>\n"))
    assert not engine.reasoning_open_after(enc("<|BOT|>human\nq<|EOT|><|BOT|>assistant\n"))
    # An earlier turn's open tag does not count: only the last turn's tail.
    assert not engine.reasoning_open_after(enc("<|BOT|>assistant\n<think>\nhm<|BOT|>human\nq<|EOT|>"))
    ids, is_open = engine.prompt_ids(_prompt(tokenizer, "hi"), SamplingParams(thinking_budget=0))
    assert not is_open and ids[-len(engine.close_ids):] == engine.close_ids


def test_audiolm_forward_last_only_keeps_one_position(micro_model, tokenizer):
    ids = torch.tensor([list(_prompt(tokenizer, "hi").input_ids)])
    with torch.no_grad():
        full = micro_model(ids).logits
        last = micro_model(ids, last_only=True).logits
    assert last.shape == (1, 1, full.shape[-1]) and last.dtype == torch.float32
    assert torch.allclose(last[0, 0], full[0, -1], atol=1e-5)
