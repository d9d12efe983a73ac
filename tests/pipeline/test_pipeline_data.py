"""From world records to trainer JSONL: encoder targets per clip, RL prompts and their grader, SFT styles."""

import json
from pathlib import Path

import pytest

from mgrd.data.records import Fact, Record, answer_text, messages_for
from mgrd.data.world.families import make_record
from mgrd.pipeline.data import (description_record, encoder_records, fact_targets, prompt_record, sft_record,
                                take, world_grader, write)


def _first(family, kind=None, pred=None, seeds=200):
    for seed in range(seeds):
        record, _ = make_record(family, seed, f"{family}-{seed}")
        if (kind is None or record.kind == kind) and (pred is None or pred(record)):
            return record
    raise AssertionError(f"no {family}/{kind} record in {seeds} seeds")


def _record(facts, audio=("audio/x.flac",), kind="k"):
    return Record(id="x", family="music", question_type="perception", question="q?", choices=None, answer="1",
                  facts=list(facts), audio=list(audio), reasoning={"grounded": "", "surrogate": "", "empty": ""},
                  messages=[], kind=kind, answer_type="integer")


def test_fact_targets_of_a_two_clip_record_come_from_their_own_clip():
    record = _first("composite", pred=lambda r: len(r.audio) == 2)
    for clip in (0, 1):
        prefix = f"clip {clip + 1}, "
        own = [f for f in record.facts if f.event.startswith(prefix) and f.name != "interval"
               and " to " not in f.event]
        targets = fact_targets(record, clip)
        assert sorted(targets) == sorted(f"{f.name}:{f.event[len(prefix):]}" for f in own)
        assert targets and not any("clip" in key for key in targets)


def test_pitches_become_midi_numbers_counts_ints_and_intervals_are_left_out():
    record = _record([Fact("pitch", 440.0, "Hz", "note 1"), Fact("pitch", 261.63, "Hz", "note 2"),
                      Fact("interval", 3, "semitones", "note 1 to note 2"), Fact("count", 4.0, "beeps", "all"),
                      Fact("tempo", 120, "BPM", "beat"), Fact("chord", "minor", "", "chord")])
    targets = fact_targets(record, 0)
    assert targets["pitch:note 1"] == 69.0
    assert targets["pitch:note 2"] == pytest.approx(60.0, abs=1e-3)     # middle C
    assert targets["count:all"] == 4 and type(targets["count:all"]) is int
    assert targets["tempo:beat"] == 120.0 and type(targets["tempo:beat"]) is float
    assert targets["chord:chord"] == "minor"
    assert len(targets) == 5                                             # no interval
    # With two clips the prefix-less facts belong to neither.
    assert fact_targets(_record(record.facts, audio=("a.flac", "b.flac")), 0) == {}


def test_encoder_records_skip_text_and_bait_one_per_clip_with_absolute_paths(tmp_path):
    text = _first("text")
    bait = _first("cognition", pred=lambda r: r.meta.get("bait"))
    probe = _first("cognition", pred=lambda r: not r.meta.get("bait"))
    sound = _first("sound")
    composite = _first("composite", pred=lambda r: len(r.audio) == 2)
    out = encoder_records([text, bait, sound, composite, probe], tmp_path)
    expected = [sound.audio[0], *composite.audio, probe.audio[0]]    # a hearing probe has facts too
    assert [o["audio"] for o in out] == [str(tmp_path / a) for a in expected]
    assert all(Path(o["audio"]).is_absolute() for o in out)
    assert out[0]["targets"] == fact_targets(sound, 0)
    assert out[2]["targets"] == fact_targets(composite, 1)


@pytest.mark.parametrize("family, answer_type", [("music", "choice"), ("sound", "integer")])
def test_prompt_record_and_world_grader(tmp_path, family, answer_type):
    record = _first(family, pred=lambda r: r.answer_type == answer_type)
    rl = prompt_record(record, tmp_path)
    assert json.loads(json.dumps(rl)) == rl                              # plain JSON data
    assert [m["role"] for m in rl["messages"]] == ["user"]
    audio = [p["audio"] for p in rl["messages"][0]["content"] if p["type"] == "audio"]
    assert audio == [str(tmp_path / a) for a in record.audio]
    assert rl["answer"] == record.answer and rl["world"]["messages"] == []
    assert world_grader(record.answer, rl) == 1.0
    assert world_grader(answer_text(record), rl) == 1.0
    if answer_type == "choice":
        wrong = "A" if record.answer != "A" else "B"
    else:
        wrong = str(int(record.answer) + 1)
    assert world_grader(wrong, rl) == 0.0


def test_sft_record_styles_and_absolute_audio(tmp_path):
    record = _first("sound", pred=lambda r: r.answer_type == "integer")
    empty = sft_record(record, tmp_path, "empty")
    assert empty["id"] == record.id
    assert empty["messages"][-1] == {"role": "assistant", "content": "<think>\n\n</think>\n" + answer_text(record)}
    assert empty["messages"][0]["content"][1] == {"type": "audio", "audio": str(tmp_path / record.audio[0])}
    grounded = sft_record(record, tmp_path, "grounded")
    assert grounded["messages"][-1]["content"] == f"<think>\n{record.reasoning['grounded']}\n</think>\n{record.answer}"
    with pytest.raises(ValueError, match="unknown reasoning style"):
        sft_record(record, tmp_path, "verbose")


def test_description_record_holds_only_the_acoustic_statements(tmp_path):
    for record in (_first("sound", "beep_count"), _first("sound", "beep_difference")):
        described = description_record(record, tmp_path)
        assert described["id"] == f"{record.id}:describe"
        user, assistant = described["messages"]
        assert user["content"][0] == {"type": "text", "text": "Describe what you hear."}
        assert user["content"][1]["audio"] == str(tmp_path / record.audio[0])
        head, text = assistant["content"].split("</think>\n")
        assert head == "<think>\n\n"
        assert text and "Hence" not in text and "answer is" not in text
        high = next(f.value for f in record.facts if f.name == "count" and f.event == "high beeps")
        assert f"{high} high beeps" in text
        grounded = record.reasoning["grounded"]
        assert all(line.strip() in text for line in grounded.splitlines() if f"{high} high beeps" in line)


def test_take_wraps_around_and_write_refuses_nothing(tmp_path):
    items = ["a", "b", "c"]
    assert take(items, 2) == ["a", "b"]
    assert take(items, 2, offset=2) == ["c", "a"]
    assert take(items, 5, offset=1) == ["b", "c", "a"]                  # min(n, len)
    assert take(items, 0) == [] and take([], 3) == []
    with pytest.raises(ValueError, match="empty.jsonl: no records to write"):
        write(tmp_path / "empty.jsonl", [])
    assert not (tmp_path / "empty.jsonl").exists()
    path = write(tmp_path / "x.jsonl", [{"a": 1}, {"b": "é"}])
    assert path == str(tmp_path / "x.jsonl")
    assert [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()] == [{"a": 1}, {"b": "é"}]


def test_cognition_pairs_use_well_formed_own_denials_else_the_taught_one(tmp_path):
    from mgrd.inference.backend import GenerationResult, failed
    from mgrd.pipeline.iterations import cognition_pairs
    from mgrd.training.data import encode_pair

    probe = _first("cognition", pred=lambda r: not r.meta.get("bait") and bool(r.audio))

    def gen(text, reasoning, answer, well_formed):
        return GenerationResult("k", "ok", text=text, reasoning=reasoning, answer=answer, well_formed=well_formed)

    own = gen("I cannot hear audio.\n</think>\nSorry, I can't.", "I cannot hear audio.", "Sorry, I can't.", True)
    cut = gen("I cannot hear audio and", "I cannot hear audio and", "", False)   # truncated: no </think>
    fine = gen("I hear a chord.\n</think>\nYes.", "I hear a chord.", "Yes.", True)
    lost = failed("k", "HTTP 503")           # a sample the backend could not produce: not a denial
    pairs, denials = cognition_pairs([probe, probe], [[own, cut, lost], [fine, cut]], tmp_path)
    assert denials == 3                      # own + cut in the first, cut in the second
    assert [p["rejected"] for p in pairs] == [
        "<think>\nI cannot hear audio.\n</think>\nSorry, I can't.",
        messages_for(probe, "surrogate")[-1]["content"]]
    assert all(p["chosen"].startswith("<think>\n") and "</think>" in p["chosen"] for p in pairs)
    # every pair encodes as a trainer record (the truncated denial would not)
    from mgrd.chat import train_tokenizer
    tok = train_tokenizer(["I hear a chord", "cannot"], vocab_size=300)
    for p in pairs:
        for part in p["messages"][0]["content"]:
            if part["type"] == "audio":
                part["audio"] = str(_clip(tmp_path))
        encode_pair(p, tok)


def _clip(tmp_path):
    import numpy as np
    import soundfile

    path = tmp_path / "clip.wav"
    soundfile.write(path, (0.1 * np.sin(np.arange(16000) * 0.1)).astype("float32"), 16000)
    return path


def test_kept_chains_share_is_capped_by_the_repeat_limit():
    from mgrd.pipeline.iterations import kept_share
    from mgrd.pipeline.recipe import IterationSpec, SFTSpec

    spec = IterationSpec(text_cot_ratio=1.0, max_chain_repeats=4, sft=SFTSpec(steps=50, batch_size=16))   # 800 samples
    assert kept_share(1000, spec) == 0.5            # plenty of chains: 1 / (1 + 1)
    assert kept_share(10, spec) == 4 * 10 / 800     # 10 chains, each seen at most 4 times
    assert kept_share(0, spec) == 0.0
    assert kept_share(1000, IterationSpec(text_cot_ratio=3.0)) == 0.25
