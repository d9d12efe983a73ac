"""Tokenizer: training, the Qwen2 pipeline, special tokens, save/load and transformers compatibility."""

import json
import random
import unicodedata

import pytest

from mgrd.chat import (AUDIO_END, AUDIO_PATCH, AUDIO_START, BOT, ENDOFTEXT, EOT, OFFICIAL_IDS, SPECIAL_TOKENS,
                       SpecialTokenIds, Tokenizer, train_tokenizer)

CORPUS = [
    "The first beep is higher than the second one, so the answer is B.",
    "Count the beeps: 1, 2, 3, 4, 5. There are 5 beeps at 440 Hz.",
    "The tempo is 120 BPM and the chord sounds minor, which is sad.",
    "说话人的语速很快。音高在上升。", "It's rising; we'll check the pitch again.\n\nDone.",
    "<think>\nThe tone rises from 220 Hz to 330 Hz.\n</think>\nA",
] * 8

UNICODE_SAMPLES = [
    "", " ", "  two leading spaces", "tab\tand\u00a0nbsp", "\r\n\r\n", "\x00\x01 control \x7f",
    "naïve café", "日本語のテキスト", "한국어", "مرحبا بالعالم", "emoji 🎵🎶 and family 👨‍👩‍👧",
    "math ∑∫√ and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "1234567890", "x" * 300, "it's we'll I'M",
]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, vocab_size=400)


def test_special_tokens_follow_the_learned_vocabulary_in_fixed_order(tok):
    v = tok.vocab_size
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(v - 6, v))
    assert SPECIAL_TOKENS == (ENDOFTEXT, BOT, EOT, AUDIO_START, AUDIO_END, AUDIO_PATCH)
    assert tok.special == SpecialTokenIds(bot=v - 5, eot=v - 4, endoftext=v - 6, audio_start=v - 3,
                                          audio_end=v - 2, audio_patch=v - 1)


def test_official_ids_are_the_published_constants():
    assert OFFICIAL_IDS == {"<|endoftext|>": 151643, "<|EOT|>": 151665, "<audio_start>": 151688,
                            "<audio_end>": 151689, "<audio_patch>": 151690}


def test_training_is_deterministic_and_learns_merges(tok):
    again = train_tokenizer(CORPUS, vocab_size=400)
    assert again.backend.to_str() == tok.backend.to_str()
    assert 256 + 6 < tok.vocab_size <= 400
    assert len(tok.encode("the beeps")) < len("the beeps")


def test_vocab_size_and_min_frequency_are_checked():
    with pytest.raises(ValueError, match="at least 262"):
        train_tokenizer(CORPUS, vocab_size=100)
    with pytest.raises(ValueError, match="min_frequency"):
        train_tokenizer(CORPUS, min_frequency=0)


def test_special_strings_in_text_map_to_their_ids(tok):
    sp = tok.special
    ids = tok.encode("<|BOT|>human\nhi<audio_patch><|EOT|>")
    assert ids[0] == sp.bot and ids[-2:] == [sp.audio_patch, sp.eot]
    assert tok.decode(ids) == "<|BOT|>human\nhi<audio_patch><|EOT|>"
    assert tok.decode(ids, skip_special_tokens=True) == "human\nhi"


def test_qwen2_pre_tokenizer_split(tok):
    pieces = [p for p, _ in tok.backend.pre_tokenizer.pre_tokenize_str("I'm 123 abc\n\n  x")]
    assert pieces == ["I", "'m", "Ġ", "1", "2", "3", "Ġabc", "ĊĊ", "Ġ", "Ġx"]


@pytest.mark.parametrize("s", UNICODE_SAMPLES)
def test_round_trip_unicode(tok, s):
    assert tok.decode(tok.encode(s)) == s


def test_round_trip_random_code_points(tok):
    rng = random.Random(0)
    for _ in range(50):
        s = "".join(chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0xD7FF),
                                     rng.randint(0xE000, 0x10FFFF)])) for _ in range(rng.randint(1, 30)))
        s = unicodedata.normalize("NFC", s)
        assert tok.decode(tok.encode(s)) == s


def test_input_is_nfc_normalised(tok):
    assert tok.decode(tok.encode("e\u0301")) == "\u00e9"


def test_unknown_token_and_bad_input_raise(tok):
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.token_to_id("<no such token>")
    with pytest.raises(TypeError, match="str"):
        tok.encode(["a"])


def test_save_writes_qwen2_style_files_and_loads_back(tok, tmp_path):
    tok.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    v = tok.vocab_size
    assert config["tokenizer_class"] == "Qwen2Tokenizer"
    assert (config["eos_token"], config["pad_token"], config["bos_token"]) == ("<|EOT|>", "<|endoftext|>", None)
    assert config["model_max_length"] == 65536
    assert config["added_tokens_decoder"][str(v - 5)] == {
        "content": "<|BOT|>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
        "special": True}
    assert [config["added_tokens_decoder"][str(i)]["content"] for i in range(v - 6, v)] == list(SPECIAL_TOKENS)
    assert json.loads((tmp_path / "special_tokens_map.json").read_text()) == {
        "additional_special_tokens": ["<|BOT|>", "<audio_start>", "<audio_end>", "<audio_patch>"],
        "eos_token": "<|EOT|>", "pad_token": "<|endoftext|>"}
    loaded = Tokenizer.from_dir(tmp_path)
    assert loaded.special == tok.special and loaded.vocab_size == tok.vocab_size
    for s in UNICODE_SAMPLES + CORPUS[:6]:
        assert loaded.encode(s) == tok.encode(s)


def test_saved_tokenizer_loads_in_transformers_with_the_same_ids(tok, tmp_path):
    transformers = pytest.importorskip("transformers")
    tok.save(tmp_path)
    auto = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    texts = UNICODE_SAMPLES + CORPUS[:6] + ["<|BOT|>human\nhi<audio_start><audio_patch><audio_end><|EOT|>"]
    for s in texts:
        ids = tok.encode(s)
        assert auto(s)["input_ids"] == ids
        assert fast.encode(s, add_special_tokens=False) == ids
        assert auto.decode(ids) == tok.decode(ids)
    assert (auto.eos_token_id, auto.pad_token_id, auto.bos_token) == (tok.special.eot, tok.special.endoftext, None)


def _write_qwen2_files(tok, path, added_ids):
    """vocab.json + merges.txt + added_tokens.json, as the released checkpoints ship them."""
    model = json.loads(tok.backend.to_str())["model"]
    vocab = {t: i for t, i in model["vocab"].items() if t not in SPECIAL_TOKENS}
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (path / "added_tokens.json").write_text(json.dumps(dict(zip(SPECIAL_TOKENS, added_ids))), encoding="utf-8")


def test_from_vocab_and_merges_matches_the_trained_tokenizer(tok, tmp_path):
    v = tok.vocab_size
    _write_qwen2_files(tok, tmp_path, range(v - 6, v))
    loaded = Tokenizer.from_dir(tmp_path)
    assert loaded.special == tok.special
    for s in UNICODE_SAMPLES + CORPUS[:6] + ["a<|EOT|>b<audio_patch>"]:
        assert loaded.encode(s) == tok.encode(s)
    assert loaded.decode(loaded.encode("<|EOT|>x"), skip_special_tokens=True) == "x"


def test_qwen2_pipeline_matches_transformers_qwen2_tokenizer(tok):
    transformers = pytest.importorskip("transformers")
    model = json.loads(tok.backend.to_str())["model"]
    vocab = {t: i for t, i in model["vocab"].items() if t not in SPECIAL_TOKENS}
    merges = [tuple(m) if not isinstance(m, str) else tuple(m.split(" ")) for m in model["merges"]]
    reference = transformers.Qwen2Tokenizer(vocab=vocab, merges=merges)
    for s in UNICODE_SAMPLES + CORPUS[:6]:
        assert reference.encode(s, add_special_tokens=False) == tok.encode(s)


def test_added_token_ids_with_gaps_are_kept(tok, tmp_path):
    base = tok.vocab_size - 6
    gapped = [base + 10, base + 11, base + 12, base + 20, base + 21, base + 22]
    _write_qwen2_files(tok, tmp_path, gapped)
    loaded = Tokenizer.from_dir(tmp_path)
    assert [loaded.token_to_id(t) for t in SPECIAL_TOKENS] == gapped
    assert loaded.vocab_size == base + 23
    assert loaded.encode("hi<|EOT|>") == tok.encode("hi") + [base + 12]
    # the same ids survive a save and a load through tokenizer.json
    out = tmp_path / "saved"
    loaded.save(out)
    assert [Tokenizer.from_dir(out).token_to_id(t) for t in SPECIAL_TOKENS] == gapped


def test_tokenizer_json_with_gapped_added_ids_is_repaired(tok, tmp_path):
    data = json.loads(tok.backend.to_str())
    for entry in data["added_tokens"]:
        entry["id"] += 100
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    loaded = Tokenizer.from_dir(tmp_path)
    assert loaded.special.eot == tok.special.eot + 100


def test_tokenizer_config_added_tokens_decoder_sets_flags(tok, tmp_path):
    v = tok.vocab_size
    _write_qwen2_files(tok, tmp_path, range(v - 6, v))
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<|endoftext|>": v - 6, "<|BOT|>": v - 5}))
    decoder = {str(v - 6 + i): {"content": t, "special": t != AUDIO_PATCH} for i, t in enumerate(SPECIAL_TOKENS)}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": decoder,
                                                                "model_max_length": 1024}))
    loaded = Tokenizer.from_dir(tmp_path)
    assert loaded.model_max_length == 1024
    assert loaded.decode(loaded.encode("<|BOT|>a<audio_patch>"), skip_special_tokens=True) == "a<audio_patch>"


def test_missing_special_tokens_are_named(tok, tmp_path):
    data = json.loads(tok.backend.to_str())
    data["added_tokens"] = [e for e in data["added_tokens"] if e["content"] in (ENDOFTEXT, BOT, EOT)]
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="lacks the special tokens <audio_start>, <audio_end>, <audio_patch>"):
        Tokenizer.from_dir(tmp_path)


def test_from_dir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Tokenizer.from_dir(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="tokenizer.json, or vocab.json"):
        Tokenizer.from_dir(tmp_path)
    (tmp_path / "vocab.json").write_text("{}")
    (tmp_path / "merges.txt").write_text("a b c\n")
    with pytest.raises(ValueError, match="merges.txt:1: a merge is two tokens"):
        Tokenizer.from_dir(tmp_path)
