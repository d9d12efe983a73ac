"""A micro AudioLM with a small trained tokenizer, shared by the engine tests."""

import numpy as np
import pytest
import torch

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.model import AudioTokenIds, build_model, micro_config


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(tiny_corpus(), vocab_size=400)


@pytest.fixture(scope="session")
def micro_model(tokenizer):
    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size,
                       audio_token_ids=AudioTokenIds.of(s),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    # Larger output weights make a random model's distribution peaked enough that greedy
    # decoding is not decided by rounding noise.
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    return model.eval()


@pytest.fixture(scope="session")
def tone():
    """0.7 s of a 440 Hz tone at 16 kHz (a short chunk for the micro encoder's 64 positions)."""
    t = np.arange(int(0.7 * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
