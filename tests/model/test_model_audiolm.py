"""AudioLM: audio splicing, KV-cache equivalence, freezing, parameter counts, building."""

import pytest
import torch
from transformers import DynamicCache

from mgrd.model import build_model, micro_config, output_cache

CFG = micro_config(64)  # audio ids: start 61, end 62, patch 63
S, E, P = 61, 62, 63


@pytest.fixture(scope="module")
def model():
    return build_model(CFG, seed=0).eval()


def _mels(*lengths, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(128, t, generator=g) for t in lengths]


def _chunk(n):
    return [S] + [P] * n + [E]


def test_encode_audio_counts_and_modes(model):
    mels = _mels(30, 52, 2)  # N = 4, 7, 0
    feats = model.encode_audio(mels)
    assert [tuple(f.shape) for f in feats] == [(4, 32), (7, 32), (0, 32)]
    single = model.encode_audio(mels, batched=False)
    # the longest item never reads padding; the 52-frame item's last frame reads padded
    # activations in the batch (odd encoder length), the documented batching effect
    torch.testing.assert_close(single[1], feats[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(single[0][:-1], feats[0][:-1], atol=1e-5, rtol=0)
    assert not torch.allclose(single[0][-1], feats[0][-1], atol=1e-4)


def test_batch_of_one_is_bit_identical_to_per_chunk(model):
    mels = _mels(45)
    assert torch.equal(model.encode_audio(mels)[0], model.encode_audio(mels, batched=False)[0])


def test_embed_splices_features_in_row_major_order(model):
    mels = _mels(30, 52, 60)  # N = 4, 7, 8: chunks 0 and 1 in sample 0, chunk 2 in sample 1
    row0 = [1, 2] + _chunk(4) + [3] + _chunk(7) + [4]
    row1 = [5] + _chunk(8) + [6] * (len(row0) - 11)
    ids = torch.tensor([row0, row1])
    with torch.no_grad():
        emb = model.embed(ids, mels)
        feats = torch.cat(model.encode_audio(mels))
        text = model.model.embed_tokens(ids)
    patch = ids == P
    assert torch.equal(emb[patch], feats)
    assert torch.equal(emb[~patch], text[~patch])
    # each chunk sits right after its own <audio_start>
    assert torch.equal(emb[0, 3:7], feats[:4])
    assert torch.equal(emb[0, 10:17], feats[4:11])
    assert torch.equal(emb[1, 2:10], feats[11:])


def test_patch_count_mismatch_names_both_numbers(model):
    ids = torch.tensor([_chunk(3)])
    with pytest.raises(ValueError, match="3 <audio_patch> positions but the audio gives 4 features"):
        model.embed(ids, _mels(30))
    with pytest.raises(ValueError, match="2 <audio_patch> positions but no audio"):
        model.embed(torch.tensor([_chunk(2)]), None)


def test_text_only_embeds_are_plain_embeddings(model):
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(model.embed(ids, None), model.model.embed_tokens(ids))


def test_kv_cache_prefill_and_decode_match_the_full_forward(model):
    mels = _mels(30, 60)
    # all patches of both rows lie in the 11-token prefill; 4 decode steps follow
    ids = torch.tensor([[1] + _chunk(4) + list(range(2, 11)), [8] + _chunk(8) + list(range(9, 14))])
    with torch.no_grad():
        full = model(ids, mels).logits
        prefix = 11
        out = model(ids[:, :prefix], mels, use_cache=True, cache=DynamicCache(config=model.decoder.config))
        cache = output_cache(out)
        assert isinstance(cache, DynamicCache)
        steps = [out.logits]
        for t in range(prefix, ids.shape[1]):
            out = model(ids[:, t:t + 1], None, cache=cache, use_cache=True)
            cache = output_cache(out)
            steps.append(out.logits)
    assert full.dtype == torch.float32 and full.shape == (2, ids.shape[1], 64)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


def test_logits_to_keep_returns_the_last_rows(model):
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        full = model(ids).logits
        last = model(ids, logits_to_keep=1).logits
    assert last.shape == (1, 1, 64)
    torch.testing.assert_close(last[:, 0], full[:, -1], atol=1e-6, rtol=0)


def test_encoder_is_frozen_and_stays_in_eval_mode():
    m = build_model(CFG, seed=0)
    m.train()
    assert not m.encoder.training and m.adapter.training and m.model.training and m.decoder.training
    assert not any(p.requires_grad for p in m.encoder.parameters())
    ids = torch.tensor([_chunk(4) + [1, 2]])
    m(ids, _mels(30)).logits.sum().backward()
    assert all(p.grad is None for p in m.encoder.parameters())
    assert all(p.grad is not None for p in m.adapter.parameters())
    assert m.lm_head.weight.grad is not None


def test_set_trainable_switches_parts():
    m = build_model(CFG, seed=0).train()
    m.set_trainable(encoder=True, adaptor=False, decoder=False)
    assert m.encoder.training and all(p.requires_grad for p in m.encoder.parameters())
    assert not any(p.requires_grad for p in [*m.adapter.parameters(), *m.model.parameters(), m.lm_head.weight])
    m.set_trainable()
    assert not m.encoder.training and not any(p.requires_grad for p in m.encoder.parameters())
    assert all(p.requires_grad for p in [*m.adapter.parameters(), *m.model.parameters()])


def test_num_parameters_by_part(model):
    # hand-counted from the micro shapes (d 32, 4d MLP, 64 positions; H 32, I 64, KV 16, V 64)
    encoder = (32 * 128 * 3 + 32) + (32 * 32 * 3 + 32) + 64 * 32 + (4 * 32 + 3 * 1056 + 1024 + 4224 + 4128) + 64
    adaptor = (32 * 32 * 3 + 32) + (64 * 32 + 64) + (32 * 64 + 32)
    layer = 1056 + 2 * 528 + 1024 + 64 + 3 * 64 * 32
    decoder = 2 * 64 * 32 + 2 * layer + 32
    assert model.num_parameters() == {"encoder": encoder, "adaptor": adaptor, "decoder": decoder,
                                      "total": encoder + adaptor + decoder}
    assert (encoder, adaptor, decoder) == (30208, 7296, 22816)


def test_config_property_and_metadata(model):
    assert model.config == CFG
    assert model.dtype == torch.float32 and model.device == torch.device("cpu")
    assert model.text_config.hidden_size == 32


def test_build_is_deterministic_under_a_seed():
    a, b, c = build_model(CFG, seed=3), build_model(CFG, seed=3), build_model(CFG, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["model.embed_tokens.weight"], sc["model.embed_tokens.weight"])
    assert sa["model.layers.0.self_attn.q_proj.weight"].std().item() == pytest.approx(0.02, rel=0.15)
    assert torch.equal(sa["model.norm.weight"], torch.ones(32))


def test_bfloat16_build_keeps_float32_rotary_frequencies():
    m = build_model(CFG, seed=0, dtype=torch.bfloat16)
    assert m.dtype == torch.bfloat16 and m.encoder.conv1.weight.dtype == torch.bfloat16
    inv_freq = m.model.rotary_emb.inv_freq
    assert inv_freq.dtype == torch.float32
    torch.testing.assert_close(inv_freq, 1e4 ** (-torch.arange(0, 8, 2, dtype=torch.float32) / 8))


def test_mismatched_parts_are_rejected():
    from dataclasses import replace

    from transformers import Qwen2ForCausalLM

    from mgrd.model import AudioAdaptor, AudioEncoder, AudioLM

    wider = replace(CFG.text, hidden_size=64)
    with pytest.raises(ValueError, match=r"llm_dim \(32\) must equal the decoder hidden_size \(64\)"):
        AudioLM(AudioEncoder(CFG.encoder), AudioAdaptor(CFG.adaptor),
                Qwen2ForCausalLM(wider.to_qwen2_config()), audio_token_ids=CFG.audio_token_ids)
