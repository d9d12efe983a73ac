"""Encoder pretraining: fact heads learn from audio; the decoder is untouched; the encoder is saved."""

import torch

from mgrd.model import load_pretrained
from mgrd.training.config import EncoderPretrainConfig, from_dict
from mgrd.training.encoder_pretrain import HeadSpec, head_specs, train_encoder

from conftest import write_jsonl, write_tone


def test_head_specs_from_targets():
    specs = head_specs([{"targets": {"note": "A", "count": 2, "dur": 0.5}},
                        {"targets": {"note": "C", "count": 3, "dur": 1.5}}])
    assert specs == [HeadSpec("count", labels=("2", "3")), HeadSpec("dur", mean=1.0, std=0.5),
                     HeadSpec("note", labels=("A", "C"))]


def test_encoder_learns_pitch_and_decoder_is_untouched(micro_dir, tmp_path):
    records = []
    for i, (hz, label) in enumerate([(220.0, "low"), (1760.0, "high")] * 2):
        write_tone(tmp_path / "d" / "audio" / f"{i}.flac", hz=hz, seconds=0.4 + 0.1 * i)
        records.append({"audio": f"audio/{i}.flac", "targets": {"register": label, "hz": hz}})
    data = write_jsonl(tmp_path / "d" / "facts.jsonl", records)
    cfg = from_dict(EncoderPretrainConfig, {
        "model": str(micro_dir), "data": [{"path": str(data)}], "max_steps": 30, "batch_size": 4,
        "optim": {"lr": 3e-3, "min_lr_ratio": 1.0}, "run": {"dir": str(tmp_path / "run"), "save_every": 100,
                                                             "progress": False}})
    result = train_encoder(cfg)
    assert result.history[-1]["register_acc"] == 1.0
    assert result.history[-1]["loss"] < 0.2 * result.history[0]["loss"]
    before, after = load_pretrained(micro_dir).state_dict(), load_pretrained(result.model_dir).state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"encoder", "adapter"}
    assert (tmp_path / "run" / "heads.json").is_file()


def test_fact_heads_ignore_padding_and_sum_pooling_counts_frames():
    import torch

    from mgrd.training.encoder_pretrain import FactHeads, HeadSpec

    torch.manual_seed(0)
    heads = FactHeads([HeadSpec("count", labels=("1", "2", "3")), HeadSpec("pitch")], dim=8, hidden=16)
    short, long = torch.randn(3, 8), torch.randn(7, 8)
    together = heads([short, long])
    alone = heads([short])
    for name in ("count", "pitch"):
        torch.testing.assert_close(together[name][0], alone[name][0])   # padding of the batch changes nothing
    # the sum pooling sees the number of frames: the same frame repeated twice as often changes the output
    frame = torch.randn(1, 8)
    twice, four = heads([frame.repeat(2, 1)]), heads([frame.repeat(4, 1)])
    assert not torch.allclose(twice["count"], four["count"])
