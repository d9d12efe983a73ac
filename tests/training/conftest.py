"""Fixtures of the trainer tests: a micro checkpoint on disk and small chat-JSONL datasets."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.model import AudioTokenIds, build_model, micro_config, save_pretrained


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(tiny_corpus(), vocab_size=400)


@pytest.fixture(scope="session")
def micro_dir(tmp_path_factory, tokenizer):
    """A random micro AudioLM + tokenizer saved in the official layout."""
    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds(s.audio_start, s.audio_end, s.audio_patch),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    path = tmp_path_factory.mktemp("micro")
    save_pretrained(model, path, tokenizer=tokenizer)
    return path


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_tone(path, hz=440.0, seconds=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000, format="FLAC")
    return path


@pytest.fixture()
def sft_data(tmp_path):
    """Four records (one with audio, relative path) in a JSONL file."""
    write_tone(tmp_path / "data" / "audio" / "a.flac")
    records = [
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "How many beeps?"},
                                                   {"type": "audio", "audio": "audio/a.flac"}]},
                      {"role": "assistant", "content": "Counting: 1, 2.\n</think>\n2"}]},
        {"messages": [{"role": "user", "content": "Which tone is higher?"},
                      {"role": "assistant", "content": "<think>\nThe second is higher.\n</think>\nB"}]},
        {"messages": [{"role": "user", "content": "Is the chord major or minor?"},
                      {"role": "assistant", "content": "minor"}]},
        {"messages": [{"role": "user", "content": "What is 3 + 4?"},
                      {"role": "assistant", "content": "3 + 4 = 7.\n</think>\n7"}]},
    ]
    return write_jsonl(tmp_path / "data" / "sft.jsonl", records)


def sft_overrides(micro_dir, data, run_dir, **extra):
    base = {"model": str(micro_dir), "data": [{"path": str(data)}], "batch_size": 4, "max_steps": 8,
            "optim": {"lr": 1e-2, "warmup_steps": 0, "grad_clip": 1.0},
            "run": {"dir": str(run_dir), "save_every": 2, "keep_last": 2, "progress": False}}
    for k, v in extra.items():
        node = base
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return base


@pytest.fixture(autouse=True)
def _threads():
    # Bitwise resume comparisons need one reduction order in every run.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
