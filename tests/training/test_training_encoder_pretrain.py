"""Encoder pretraining: fact heads learn from audio; the decoder is untouched; the encoder is saved."""

import torch

from mgrd.model import load_pretrained
from mgrd.training.config import EncoderPretrainConfig, from_dict
from mgrd.data.world.targets import FRAMES, NOTES
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


def test_streamed_references_make_the_clip_and_targets_the_world_would_store():
    from mgrd.data.world.families import make_record
    from mgrd.data.world.targets import fact_targets, stream_references, streamed_clip

    refs = stream_references(["music", "composite"], split="train", seed=0, n=5)
    assert [r["world"]["family"] for r in refs] == ["music", "composite", "composite", "music", "composite"]
    assert [r["clip"] for r in refs] == [0, 0, 1, 0, 0]
    assert len({(r["world"]["family"], r["world"]["seed"], r["clip"]) for r in refs}) == 5   # every sample a new clip
    targets, wave = streamed_clip(refs[2])
    record, clips = make_record("composite", refs[2]["world"]["seed"], "x")
    onsets, notes = targets.pop(FRAMES), targets.pop(NOTES)
    assert targets == fact_targets(record, 1) and targets
    assert (wave == clips[1]).all()
    # the second clip of this composite is a two-note melody: notes start at 0.2 s and 0.2 + 0.6 + 0.25 s
    assert onsets == [[int(0.2 / 0.08), "note"], [int(1.05 / 0.08), "note"]]
    # each sounds 0.6 s: frames round(0.2 / 0.08) = 2 to round(0.8 / 0.08) = 10, and 13 to round(1.65 / 0.08) = 21,
    # at the MIDI numbers of the pitch facts
    first, second = round(targets["pitch:note 1"]), round(targets["pitch:note 2"])
    assert notes == [[2, 10, first], [13, 21, second]]


def test_a_chord_is_one_onset_and_three_sounding_notes():
    from mgrd.data.world.targets import streamed_clip

    for seed in range(40):   # the first music item of these seeds that is a chord
        targets, wave = streamed_clip({"world": {"family": "music", "seed": seed}, "clip": 0})
        if "chord:chord" in targets:
            break
    assert targets[FRAMES] == [[int(0.2 / 0.08), "chord"]]
    root, third, fifth = (round(targets[f"pitch:{k}"]) for k in ("root", "third", "fifth"))
    assert sorted(m for _, _, m in targets[NOTES]) == [root, third, fifth]
    assert {(a, b) for a, b, _ in targets[NOTES]} == {(2, round((len(wave) / 16000 - 0.2) / 0.08))}
    assert third - root == (4 if targets["chord:chord"] == "major" else 3)


def test_note_loss_by_hand():
    import math

    from mgrd.data.world.targets import LOWEST_NOTE
    from mgrd.training.encoder_pretrain import note_loss

    logits = torch.zeros(2, 2, 3)              # classes: no note, LOWEST_NOTE, LOWEST_NOTE + 1
    logits[0, 0, 2] = 2.0                      # frame 0 of clip 0: note LOWEST_NOTE + 1 strongest
    logits[0, 1] = float("-inf")               # clip 0 has one frame (padding)
    logits[1, 1, 1] = 1.0                      # frame 1 of clip 1: LOWEST_NOTE strongest
    records = [{"targets": {NOTES: [[0, 1, LOWEST_NOTE + 1]]}},
               {"targets": {NOTES: [[1, 2, LOWEST_NOTE], [1, 2, LOWEST_NOTE + 1]]}}]   # a two-note chord
    loss, acc = note_loss(logits, records)
    e = math.e
    single = -math.log(e ** 2 / (e ** 2 + 2))
    silent = math.log(3)                       # clip 1, frame 0: no note, uniform logits
    chord = -0.5 * math.log(e / (e + 2)) - 0.5 * math.log(1 / (e + 2))   # half the target on each note
    assert abs(float(loss) - (single + silent + chord) / 3) < 1e-5 and acc == 1.0
    assert note_loss(logits, [{"targets": {}}, {"targets": {}}]) is None


def test_fact_weight_scales_the_fact_heads_against_the_frame_heads():
    from mgrd.training.encoder_pretrain import fact_losses, frame_loss, note_loss

    torch.manual_seed(0)
    specs = [HeadSpec("count:beat", labels=("6", "7"))]
    outputs = {"count:beat": torch.randn(1, 2), FRAMES: torch.randn(1, 4, 7), NOTES: torch.randn(1, 4, 61)}
    records = [{"targets": {"count:beat": 7, FRAMES: [[1, "beat"]], NOTES: []}}]
    frames = float(frame_loss(outputs[FRAMES], records)[0] + note_loss(outputs[NOTES], records)[0])
    fact = float(torch.nn.functional.cross_entropy(outputs["count:beat"], torch.tensor([1])))
    for weight in (1.0, 0.1, 0.0):
        total, _ = fact_losses(outputs, records, specs, fact_weight=weight)
        assert abs(float(total) - (weight * fact + frames)) < 1e-5


def test_beep_onsets_are_the_scene_events_in_order_with_their_kind():
    from mgrd.data.world.targets import FRAMES, streamed_clip

    targets, _ = streamed_clip({"world": {"family": "sound", "seed": 5}, "clip": 0})
    kinds = [label for _, label in targets.get(FRAMES, [])]
    if "count:high beeps" in targets:     # a beep scene: one onset per beep, of its kind
        assert kinds.count("high") == targets["count:high beeps"] and kinds.count("low") == targets["count:low beeps"]
    frames = [f for f, _ in targets.get(FRAMES, [])]
    assert frames == sorted(frames)


def test_frame_loss_by_hand():
    import math

    import torch

    from mgrd.training.encoder_pretrain import frame_loss

    logits = torch.zeros(2, 3, 6)
    logits[0, 1, 1] = 2.0                      # frame 1 of clip 0 says "high"
    logits[1, 2] = float("-inf")               # clip 1 has two frames only (padding)
    records = [{"targets": {FRAMES: [[1, "high"]]}}, {"targets": {}}]
    loss, recall = frame_loss(logits, records)
    # clip 0: frames 0 and 2 are "none" with uniform logits (CE ln 6); frame 1 is "high" with logit 2
    high = -math.log(math.exp(2) / (math.exp(2) + 5))
    assert abs(float(loss) - (2 * math.log(6) + high) / 3) < 1e-5 and recall == 1.0
    assert frame_loss(logits, [{"targets": {}}, {"targets": {}}]) is None


def test_stream_references_refuse_families_that_cannot_be_made_on_the_fly():
    import pytest

    from mgrd.data.world.targets import stream_references

    with pytest.raises(ValueError, match="speech"):
        stream_references(["speech"], split="train", seed=0, n=2)


def test_probe_tolerances_by_fact_type():
    from mgrd.training.encoder_probes import within

    assert within("pitch:note 1", 60.99, 60.0) and not within("pitch:note 1", 58.9, 60.0)
    assert within("tempo:beat", 110.5, 120.0) and not within("tempo:beat", 110.0, 120.0)     # 8 % of 120 = 9.6
    assert within("duration:sound 1", 0.575, 0.5) and not within("duration:sound 1", 0.58, 0.5)   # 15 %


def test_score_outputs_counts_right_and_wrong_per_head():
    import torch

    from mgrd.training.encoder_probes import score_outputs

    specs = [HeadSpec("count:all beeps", labels=("2", "3")), HeadSpec("pitch:note 1", mean=60.0, std=2.0)]
    outputs = {"count:all beeps": torch.tensor([[2.0, 1.0], [2.0, 1.0], [0.0, 1.0]]),
               "pitch:note 1": torch.tensor([[0.4], [1.0], [0.0]])}   # 60.8, 62.0, 60.0 after un-standardising
    records = [{"targets": {"count:all beeps": 2, "pitch:note 1": 60.0}},
               {"targets": {"count:all beeps": 3, "pitch:note 1": 60.0}},
               {"targets": {"count:all beeps": 7}}]                     # a label the head does not know: wrong
    assert score_outputs(outputs, records, specs) == {"count:all beeps": [1, 0, 0], "pitch:note 1": [1, 0]}


def test_encoder_trains_on_streamed_clips_and_writes_probes(tokenizer, tmp_path):
    import dataclasses
    import json

    from mgrd.data.world.families import make_record
    from mgrd.data.world.targets import fact_targets, stream_references
    from mgrd.model import AudioTokenIds, build_model, micro_config, save_pretrained

    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds.of(s),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    cfg = dataclasses.replace(cfg, encoder=dataclasses.replace(cfg.encoder, n_audio_ctx=1500))   # world clips: 1-8 s
    micro_dir = tmp_path / "model"
    save_pretrained(build_model(cfg, seed=0), micro_dir, tokenizer=tokenizer)

    stored = []
    for k in range(3):
        record, clips = make_record("music", 10 + k, f"m{k}")
        import soundfile as sf

        sf.write(tmp_path / f"m{k}.flac", clips[0], 16000)
        stored.append({"audio": f"m{k}.flac", "targets": fact_targets(record, 0)})
    data = write_jsonl(tmp_path / "stored.jsonl", stored)
    streamed = write_jsonl(tmp_path / "streamed.jsonl", stream_references(["music"], split="train", seed=0, n=8))
    cfg = from_dict(EncoderPretrainConfig, {
        "model": str(micro_dir), "data": [{"path": str(data)}, {"path": str(streamed)}],
        "eval_data": [{"path": str(data)}], "max_steps": 2, "batch_size": 2,
        "run": {"dir": str(tmp_path / "run"), "save_every": 100, "progress": False}})
    result = train_encoder(cfg)
    assert result.steps == 2 and result.model_dir is not None
    probes = json.loads((tmp_path / "run" / "probes.json").read_text())
    assert probes["clips"] == 3 and set(probes["by_type"]) <= {"pitch", "chord", "contour", "count", "tempo"}
    assert all(0.0 <= v["accuracy"] <= 1.0 and v["n"] >= 1 for v in probes["by_type"].values())
    # pitch is read off the frames (both readings reported); tempo, a property of the whole clip, off its head
    from mgrd.training.encoder_probes import frame_read

    assert "pitch" in probes["by_type"]
    for head, value in probes["by_head"].items():
        assert value == probes["frames" if frame_read(head) else "heads"]["by_head"][head]
