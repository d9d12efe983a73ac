"""DPO: the chosen-minus-rejected margin rises; exact resume; pairs share their prompt and audio."""

import pytest
import torch

from mgrd.training import checkpoint as ckpt
from mgrd.training.config import DPOConfig, from_dict
from mgrd.training.data import encode_pair, encode_rl_prompt, read_records
from mgrd.training.dpo import train_dpo

from conftest import write_jsonl, write_tone


@pytest.fixture()
def pairs(tmp_path):
    write_tone(tmp_path / "data" / "audio" / "t.flac")
    ask = [{"type": "text", "text": "Can you hear this?"}, {"type": "audio", "audio": "audio/t.flac"}]
    records = [
        {"messages": [{"role": "user", "content": ask}],
         "chosen": "I hear a steady tone.\n</think>\nYes, a tone near 440 Hz.",
         "rejected": "I cannot hear audio.\n</think>\nI cannot hear audio."},
        {"messages": [{"role": "user", "content": "Which tone is higher?"}],
         "chosen": "The second is higher.\n</think>\nB", "rejected": "\n</think>\nA"},
    ]
    return write_jsonl(tmp_path / "data" / "pairs.jsonl", records)


def dpo_cfg(micro_dir, pairs, run_dir, **extra):
    base = {"model": str(micro_dir), "pairs": [{"path": str(pairs)}], "max_steps": 6, "batch_size": 2,
            "beta": 0.1, "optim": {"lr": 1e-2, "min_lr_ratio": 1.0},
            "run": {"dir": str(run_dir), "save_every": 2, "progress": False}}
    base.update(extra)
    return from_dict(DPOConfig, base)


def test_dpo_raises_the_margin(micro_dir, pairs, tmp_path):
    result = train_dpo(dpo_cfg(micro_dir, pairs, tmp_path / "run"))
    margins = [h["margin"] for h in result.history]
    assert margins[0] == pytest.approx(0.0, abs=1e-6)    # policy == reference at the start
    assert result.history[0]["loss"] == pytest.approx(0.693147, abs=1e-5)   # -log sigmoid(0)
    assert margins[-1] > 1.0 and result.history[-1]["accuracy"] == 1.0
    assert result.history[-1]["loss"] < 0.4


def test_dpo_micro_batches_equal_the_whole_batch(micro_dir, pairs, tmp_path):
    whole = train_dpo(dpo_cfg(micro_dir, pairs, tmp_path / "a", max_steps=2))
    split = train_dpo(dpo_cfg(micro_dir, pairs, tmp_path / "b", max_steps=2, micro_batch_size=1))
    for a, b in zip(whole.history, split.history):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["margin"] == pytest.approx(b["margin"], abs=1e-5)


def test_dpo_resume_is_bit_identical(micro_dir, pairs, tmp_path):
    full = train_dpo(dpo_cfg(micro_dir, pairs, tmp_path / "a"))

    class Killed(BaseException):
        pass

    def hook(step, metrics):
        if step == 3:
            raise Killed()

    cfg = dpo_cfg(micro_dir, pairs, tmp_path / "b")
    with pytest.raises(Killed):
        train_dpo(cfg, after_step=hook)
    resumed = train_dpo(cfg)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history[2:]]
    a = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "a")).model
    b = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "b")).model
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pair_sides_share_prompt_and_audio(tokenizer, pairs):
    record = read_records(pairs)[0]
    chosen, rejected = encode_pair(record, tokenizer)
    n = len(encode_rl_prompt(record, tokenizer).input_ids)    # the prompt, up to `<think>\n`
    assert chosen.input_ids[:n] == rejected.input_ids[:n]
    for side in (chosen, rejected):
        assert side.loss_mask == [0] * n + [1] * (len(side.input_ids) - n)
    assert len(chosen.audio_mels) == len(rejected.audio_mels) == 1
    assert torch.equal(chosen.audio_mels[0], rejected.audio_mels[0])
    with pytest.raises(ValueError, match="'rejected'"):
        encode_pair({"messages": [{"role": "user", "content": "q"}], "chosen": "a"}, tokenizer)
