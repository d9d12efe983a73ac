"""SFT: overfitting a handful of examples, assistant-only masking on exact ids, the adaptor-only flag."""

import json

import pytest
import torch

from mgrd.chat import EOT, encode
from mgrd.model import load_pretrained
from mgrd.training.config import SFTConfig, from_dict
from mgrd.training.data import IGNORE, collate, encode_example, read_records
from mgrd.training.sft import train_sft

from conftest import sft_overrides, write_jsonl


def test_sft_overfits_a_handful_of_examples(micro_dir, sft_data, tmp_path):
    cfg = from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=60,
                                             **{"run.save_every": 100}))
    result = train_sft(cfg)
    assert result.losses[0] > 3.0
    assert result.losses[-1] < 0.05
    assert not result.preempted
    # the exported model loads, and the run directory records what made it
    assert load_pretrained(result.model_dir) is not None
    assert (tmp_path / "run" / "config.yaml").is_file()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stage"] == "sft" and manifest["environment"]["torch"]
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == list(range(1, 61))


def test_loss_mask_covers_exactly_the_assistant_completion(tokenizer, sft_data):
    record = read_records(sft_data)[3]
    example = encode_example(record, tokenizer)
    enc = encode(record["messages"], [], tokenizer)
    assert example.input_ids == enc.input_ids
    target_ids = tokenizer.encode("3 + 4 = 7.\n</think>\n7") + [tokenizer.special.eot]
    trained = [t for t, m in zip(example.input_ids, example.loss_mask) if m]
    assert trained == target_ids
    assert example.input_ids[-len(target_ids):] == target_ids
    batch = collate([example], pad_id=tokenizer.special.endoftext)
    labels = batch.labels[0].tolist()
    # labels are the next token where it is trained, IGNORE elsewhere
    assert [x for x in labels if x != IGNORE] == target_ids
    assert labels[-1] == IGNORE and labels[-2] == tokenizer.special.eot
    assert int(batch.loss_mask.sum()) == len(target_ids)


def test_loss_on_all_tokens_and_text_records(tokenizer, sft_data):
    record = read_records(sft_data)[0]              # has audio
    example = encode_example(record, tokenizer, loss_on="all")
    sp = tokenizer.special
    for t, m in zip(example.input_ids, example.loss_mask):
        assert m == (0 if t in (sp.audio_start, sp.audio_patch, sp.audio_end) else 1)
    assert len(example.audio_mels) == 1 and example.audio_mels[0].shape[0] == 128
    text = encode_example({"text": "The tone rises."}, tokenizer)
    assert text.input_ids == tokenizer.encode("The tone rises.") + [sp.endoftext]
    assert text.loss_mask == [1] * len(text.input_ids)


def test_adaptor_only_leaves_decoder_and_encoder_untouched(micro_dir, sft_data, tmp_path):
    cfg = from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=2,
                                             train_adaptor_only=True))
    before = load_pretrained(micro_dir).state_dict()
    result = train_sft(cfg)
    after = load_pretrained(result.model_dir).state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("adapter.") for k in changed)


def test_record_without_target_is_refused(tokenizer):
    with pytest.raises(ValueError, match="no trained token"):
        encode_example({"messages": [{"role": "user", "content": "hi"}]}, tokenizer)
