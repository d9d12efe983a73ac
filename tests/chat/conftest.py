"""Shared fixture of the chat tests: character-level tokenizers, so that every id can be worked out by hand."""

import pytest
import tokenizers
from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers

from mgrd.chat import SPECIAL_TOKENS, Tokenizer


@pytest.fixture(scope="session")
def char_tokenizer():
    """`make(chars)`: a tokenizer whose ids are the specials 0..5 (endoftext, BOT, EOT, audio_start,
    audio_end, audio_patch), then one id per character of `chars`, in order."""
    def make(chars: str) -> Tokenizer:
        vocab = {t: i for i, t in enumerate(list(SPECIAL_TOKENS) + list(chars))}
        backend = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
        backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        backend.decoder = decoders.Fuse()
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
        return Tokenizer(backend)
    return make
