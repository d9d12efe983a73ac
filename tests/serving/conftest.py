"""Shared fixtures: a random tiny checkpoint written in the test, its engine, a live loopback server."""

from __future__ import annotations

import pytest
import torch

from mgrd.chat import Tokenizer, train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.inference import Engine
from mgrd.model import AudioTokenIds, build_model, load_pretrained, save_pretrained, tiny_config

from .serving_support import start_server

@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory):
    """A random tiny checkpoint in the official layout, with a small trained tokenizer."""
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = tiny_config(-(-tokenizer.vocab_size // 64) * 64,
                      audio_token_ids=AudioTokenIds.of(s),
                      eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    # A peaked output distribution, so that greedy decoding is not decided by rounding noise.
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    save_pretrained(model, out, tokenizer=tokenizer)
    return out


@pytest.fixture(scope="session")
def engine(checkpoint_dir):
    tokenizer = Tokenizer.from_dir(checkpoint_dir)
    model = load_pretrained(checkpoint_dir, tokenizer_special_ids=tokenizer.special)
    return Engine(model, tokenizer)


@pytest.fixture(scope="module")
def server(engine):
    with start_server(engine, max_audio_seconds=60.0, max_audio_parts=4, max_request_bytes=4 * 1024 * 1024,
                      max_audio_bytes=1024 * 1024) as live:
        yield live
