"""Generating splits: determinism, disjoint splits, atomic publication and resume, answer balance, bad arguments."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from mgrd.chat import render
from mgrd.data import read_manifest, read_split
from mgrd.data.world import WorldConfig, generate_split, item_seed, make_draft
from mgrd.data.world import generate as generate_module
from mgrd.data.world.generate import allocate, plan

NO_SPEECH = ("sound", "music", "composite", "cognition", "text")


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_the_same_bytes_and_workers_do_not_matter(tmp_path):
    config = WorldConfig("train", 40, NO_SPEECH, seed=3)
    generate_split(tmp_path / "a", config, workers=1)
    generate_split(tmp_path / "b", config, workers=2)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b
    assert sum(k.endswith(".flac") for k in a) >= 25 and "train.jsonl" in a and "manifest.json" in a
    other = _digest(_generate(tmp_path / "c", WorldConfig("train", 40, NO_SPEECH, seed=4)))
    assert other["train.jsonl"] != a["train.jsonl"]


def _generate(root: Path, config: WorldConfig) -> Path:
    generate_split(root, config)
    return root


def test_train_and_heldout_never_share_seeds_ids_or_audio(tmp_path):
    root = tmp_path / "w"
    generate_split(root, WorldConfig("train", 60, NO_SPEECH))
    generate_split(root, WorldConfig("heldout", 60, NO_SPEECH))
    train, held = list(read_split(root, "train")), list(read_split(root, "heldout"))
    assert {r.seed for r in train}.isdisjoint({r.seed for r in held})
    assert {r.id for r in train}.isdisjoint({r.id for r in held})
    digests = lambda rs: {hashlib.sha256((root / a).read_bytes()).hexdigest() for r in rs for a in r.audio}
    assert digests(train).isdisjoint(digests(held))
    assert sorted(read_manifest(root)["splits"]) == ["heldout", "train"]
    # Seeds are disjoint by construction, for any base seed and index.
    assert item_seed("train", 2**24 - 1, 2**24 - 1) < item_seed("dev", 0, 0) < item_seed("heldout", 0, 0)


def test_records_are_complete_and_render_with_the_chat_template(tmp_path):
    root = _generate(tmp_path / "w", WorldConfig("heldout", 50, NO_SPEECH))
    for r in read_split(root, "heldout"):
        for rel in r.audio:
            assert rel.startswith("audio/") and (root / rel).is_file()
        prompt = render(r.messages[:1])
        assert prompt.count("<audio_patch>") == len(r.audio)
        assert r.messages[1]["content"].startswith("<think>\n") and "\n</think>\n" in r.messages[1]["content"]
        assert r.reasoning["empty"] == "" and r.reasoning["grounded"] and r.reasoning["surrogate"]
        if r.meta.get("bait"):
            assert r.messages[1]["content"].endswith(r.surrogate_answer)
        elif r.answer_type != "choice":
            assert r.messages[1]["content"].endswith("\n" + r.answer)
        if r.family == "text":
            assert not r.audio


class _Interrupt(Exception):
    pass


def test_an_interrupted_run_never_looks_complete_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(generate_module, "SHARD_SIZE", 8)
    config = WorldConfig("train", 30, ("sound", "text"))
    root = tmp_path / "w"

    def stop(done, total):
        if done >= 16:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        generate_split(root, config, on_progress=stop)
    assert not (root / "train.jsonl").exists() and "train" not in read_manifest(root)["splits"]
    with pytest.raises(ValueError, match="not complete.*unfinished generation"):
        list(read_split(root, "train"))
    messages = []
    generate_split(root, config, on_message=messages.append)
    assert any("resuming: 2 of 4 shards" in m for m in messages)
    assert _digest(root)["train.jsonl"] == _digest(_generate(tmp_path / "fresh", config))["train.jsonl"]
    assert not (root / ".parts" / "train").exists()
    # A second run with the same settings changes nothing; other settings need --force.
    generate_split(root, config, on_message=messages.append)
    assert "already complete" in messages[-1]
    with pytest.raises(ValueError, match="other settings.*--force"):
        generate_split(root, WorldConfig("train", 31, ("sound", "text")))
    generate_split(root, WorldConfig("train", 12, ("sound",)), force=True)
    assert len(list(read_split(root, "train"))) == 12
    assert len(list((root / "audio").glob("*.flac"))) == 12  # the old split's audio is gone


def test_unfinished_run_with_other_settings_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(generate_module, "SHARD_SIZE", 4)
    root = tmp_path / "w"
    with pytest.raises(_Interrupt):
        generate_split(root, WorldConfig("dev", 12, ("music",)),
                       on_progress=lambda d, t: (_ for _ in ()).throw(_Interrupt) if d >= 4 else None)
    with pytest.raises(ValueError, match="unfinished generation of 'dev' with other settings"):
        generate_split(root, WorldConfig("dev", 12, ("music",), seed=1))


def test_multiple_choice_answers_are_balanced_over_1000_items():
    config = WorldConfig("train", 1000, NO_SPEECH).checked()
    positions: dict[int, Counter] = {2: Counter(), 3: Counter(), 4: Counter()}
    for family, k in plan(config):
        d = make_draft(family, item_seed("train", 0, k))
        if d.choices:
            positions[len(d.choices)][d.answer] += 1
    four = positions[4]
    assert sum(four.values()) >= 150 and set(four) == set("ABCD")
    assert max(four.values()) / sum(four.values()) < 0.35
    assert max(positions[3].values()) / sum(positions[3].values()) < 0.45
    assert max(positions[2].values()) / sum(positions[2].values()) < 0.6


def test_allocation_follows_weights_and_plan_interleaves():
    assert allocate(10, ("sound", "music")) == {"sound": 5, "music": 5}
    assert sum(allocate(1001, NO_SPEECH).values()) == 1001
    entries = plan(WorldConfig("train", 20, ("sound", "text")).checked())
    assert Counter(f for f, _ in entries) == {"text": 12, "sound": 8}
    assert {f for f, _ in entries[:5]} == {"sound", "text"}


@pytest.mark.parametrize("kwargs,message", [
    ({"families": ("sound", "opera")}, r"unknown families \['opera'\]; accepted: sound, music, speech"),
    ({"n": 0}, "n must be a positive number of items, got 0"),
    ({"n": -5}, "n must be a positive number of items, got -5"),
    ({"split": "test"}, "unknown split 'test'; accepted: train, dev, heldout"),
    ({"seed": -1}, "seed must be an integer in 0..16777215"),
    ({"bait_share": 2.0}, r"bait_share must be in \[0, 1\]"),
])
def test_bad_arguments_raise_clearly(tmp_path, kwargs, message):
    config = WorldConfig(**{"split": "train", "n": 4, **kwargs})
    with pytest.raises(ValueError, match=message):
        generate_split(tmp_path / "w", config)


def test_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="cannot write the dataset to .*file/sub.*choose a writable directory"):
        generate_split(blocker / "sub", WorldConfig("train", 4, ("sound",)))


def test_speech_is_skipped_with_a_message_when_the_voice_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(generate_module, "voice_missing", lambda: "the speech voice is not installed; pip install x")
    messages = []
    info = generate_split(tmp_path / "w", WorldConfig("train", 10, ("speech", "sound")), on_message=messages.append)
    assert messages == ["skipping the speech family: the speech voice is not installed; pip install x"]
    assert info["families"] == {"sound": 10} and "speech" in info["skipped"]
    with pytest.raises(ValueError, match="nothing left to generate"):
        generate_split(tmp_path / "v", WorldConfig("train", 10, ("speech",)))


def test_manifest_counts_match_the_records(tmp_path):
    root = _generate(tmp_path / "w", WorldConfig("dev", 30, NO_SPEECH))
    info = json.loads((root / "manifest.json").read_text())["splits"]["dev"]
    records = list(read_split(root, "dev"))
    assert info["records"] == 30 == len(records)
    assert info["families"] == dict(sorted(Counter(r.family for r in records).items()))
    assert info["settings"]["families"] == list(NO_SPEECH)
