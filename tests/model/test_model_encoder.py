"""Audio encoder and adaptor: lengths, key-padding mask, attention maths, fp32 softmax."""

import math

import pytest
import torch
import torch.nn.functional as F

import mgrd.model.encoder as encoder_module
from mgrd.model import AdaptorConfig, AudioAdaptor, AudioEncoder, EncoderConfig
from mgrd.model.encoder import MASK_BIAS, MultiHeadAttention

ENC = EncoderConfig(n_mels=128, n_audio_ctx=64, n_audio_state=32, n_audio_head=2, n_audio_layer=1)
ADA = AdaptorConfig(llm_dim=16, n_audio_state=32, adapter_state=24)


def _parts(seed=0):
    torch.manual_seed(seed)
    return AudioEncoder(ENC).eval(), AudioAdaptor(ADA).eval()


def _features(enc, ada, mels, lens):
    with torch.no_grad():
        x, enc_lens = enc(mels, torch.tensor(lens))
        return ada(x, enc_lens)


def test_output_shapes_and_lengths():
    enc, ada = _parts()
    mels = torch.randn(2, 128, 120)
    x, lens = enc(mels, torch.tensor([120, 84]))
    assert x.shape == (2, 30, 32) and lens.tolist() == [30, 21]   # T2 = 60, T3 = 30; (84+1)//4 = 21
    y, lens = ada(x, lens)
    assert y.shape == (2, 15, 16) and lens.tolist() == [15, 11]   # (30-1)//2+1, (21-1)//2+1


def test_too_many_frames_for_the_positional_table():
    enc, _ = _parts()
    enc(torch.zeros(1, 128, 128), torch.tensor([128]))  # T2 = 64 = n_audio_ctx: fine
    with pytest.raises(ValueError, match="n_audio_ctx=64"):
        enc(torch.zeros(1, 128, 129), torch.tensor([129]))


def test_wrong_mel_count_is_rejected():
    enc, _ = _parts()
    with pytest.raises(ValueError, match=r"\[B, 128, T\]"):
        enc(torch.zeros(1, 80, 50), torch.tensor([50]))


def test_token_count_formula_for_every_mel_length_up_to_30_s():
    """Module length functions, real conv output shapes and the reference formula agree, T = 1..3000."""
    big = EncoderConfig(n_mels=128, n_audio_ctx=1500, n_audio_state=8, n_audio_head=1, n_audio_layer=1)
    with torch.device("meta"):
        enc, ada = AudioEncoder(big), AudioAdaptor(AdaptorConfig(llm_dim=8, n_audio_state=8, adapter_state=8))
    t = torch.arange(1, 3001)
    reference = ((t + 1) // 4 - 1) // 2 + 1
    assert torch.equal(ada.output_lengths(enc.output_lengths(t)), reference)
    assert reference[2501].item() == 313 and reference[2999].item() == 375  # 25.00 s and 29.98 s
    for T in range(3, 3001):  # T < 3 gives no audio token; those chunks are never run
        x = enc.conv2(enc.conv1(torch.empty(1, 128, T, device="meta")))
        x = ada.conv(enc.avg_pooler(x))
        assert x.shape[-1] == reference[T - 1], T


def test_key_bias_samples_the_mel_mask_like_the_official_code():
    # even max T = 6: mel indices 1, 3, 5; odd max T = 5: indices 0, 2, 4
    bias = AudioEncoder._key_bias(torch.tensor([6, 3]), 6)[:, 0, 0]
    assert bias.tolist() == [[0, 0, 0], [0, MASK_BIAS, MASK_BIAS]]
    bias = AudioEncoder._key_bias(torch.tensor([5, 4]), 5)[:, 0, 0]
    assert bias.tolist() == [[0, 0, 0], [0, 0, MASK_BIAS]]
    assert bias.dtype == torch.float32


def _pad(m, T):
    return F.pad(m, (0, T - m.shape[-1]))


def test_padded_item_equals_the_item_alone_when_no_edge_frame_reads_padding():
    enc, ada = _parts()
    short, long = torch.randn(128, 80), torch.randn(128, 120)
    alone, n = _features(enc, ada, short[None], [80])
    both, lens = _features(enc, ada, torch.stack([_pad(short, 120), long]), [80, 120])
    assert n.item() == lens[0].item() == 10
    torch.testing.assert_close(both[0, :10], alone[0], atol=1e-5, rtol=0)


def test_padding_changes_only_the_last_adaptor_frame_for_an_odd_encoder_length():
    """T = 84 gives 21 encoder frames: the last adaptor frame reads a padded encoder frame
    (zero when alone, real activations in a batch) - the documented batching effect."""
    enc, ada = _parts()
    short, long = torch.randn(128, 84), torch.randn(128, 120)
    alone, n = _features(enc, ada, short[None], [84])
    both, _ = _features(enc, ada, torch.stack([_pad(short, 120), long]), [84, 120])
    assert n.item() == 11
    torch.testing.assert_close(both[0, :10], alone[0, :10], atol=1e-5, rtol=0)
    assert not torch.allclose(both[0, 10], alone[0, 10], atol=1e-3)


def test_mask_hides_padded_frames():
    """Without the key mask the padded frames would leak into every valid frame."""
    enc, ada = _parts()
    short = torch.randn(128, 80)
    masked, _ = _features(enc, ada, _pad(short, 120)[None], [80])
    unmasked, _ = _features(enc, ada, _pad(short, 120)[None], [120])
    alone, _ = _features(enc, ada, short[None], [80])
    torch.testing.assert_close(masked[0, :10], alone[0], atol=1e-5, rtol=0)
    assert not torch.allclose(unmasked[0, :10], alone[0], atol=1e-3)


def _identity_attention():
    attn = MultiHeadAttention(2, 1)
    with torch.no_grad():
        for lin in (attn.query, attn.key, attn.value, attn.out):
            lin.weight.copy_(torch.eye(2))
            if lin.bias is not None:
                lin.bias.zero_()
    return attn


def test_attention_matches_hand_computed_numbers():
    attn = _identity_attention()
    assert attn.key.bias is None and attn.query.bias is not None
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    # scores = x x^T / sqrt(2): softmax([1/sqrt2, 0]) = [e^0.7071, 1] / (e^0.7071 + 1) = [0.66976, 0.33024]
    p = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    out = attn(x)
    torch.testing.assert_close(out, torch.tensor([[[p, 1 - p], [1 - p, p]]]), atol=1e-6, rtol=0)
    # masking key 1 sends every query to key 0 only
    out = attn(x, torch.tensor([0.0, MASK_BIAS]).view(1, 1, 1, 2))
    torch.testing.assert_close(out, torch.tensor([[[1.0, 0.0], [1.0, 0.0]]]), atol=0, rtol=0)


def test_softmax_runs_in_float32_for_bfloat16_activations(monkeypatch):
    seen = []
    real_softmax = F.softmax

    def spy(x, *args, **kwargs):
        seen.append(x.dtype)
        return real_softmax(x, *args, **kwargs)

    monkeypatch.setattr(encoder_module.F, "softmax", spy)
    enc, _ = _parts()
    enc = enc.to(torch.bfloat16)
    x, _ = enc(torch.randn(1, 128, 40, dtype=torch.bfloat16), torch.tensor([40]))
    assert seen == [torch.float32] * ENC.n_audio_layer
    assert x.dtype == torch.bfloat16


def test_bfloat16_encoder_stays_close_to_float32():
    enc, ada = _parts()
    mels = torch.randn(1, 128, 60)
    ref, _ = _features(enc, ada, mels, [60])
    low, _ = _features(enc.to(torch.bfloat16), ada.to(torch.bfloat16), mels.to(torch.bfloat16), [60])
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), ref, atol=0.1, rtol=0.05)
