"""User record files as the data source: the format is checked line by line, and the smoke recipe runs end to end
on a small audio QA dataset whose clips are made here (tones of known pitch, beep trains of known count), not by
the world generator, with and without facts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mgrd.pipeline.sources import read_record_file

RATE = 16000
PITCHES = (220.0, 440.0, 880.0)
PITCH_CHOICES = ["220 Hz", "440 Hz", "880 Hz"]


def tone(path: Path, hz: float, seconds: float = 1.0) -> None:
    """A tone with three harmonics (a pure tone's low notes fall between STFT bins)."""
    t = np.arange(int(RATE * seconds)) / RATE
    wave = sum(0.25 / k * np.sin(2 * np.pi * hz * k * t) for k in (1, 2, 3))
    sf.write(path, wave.astype(np.float32), RATE)


def beeps(path: Path, count: int, seconds: float = 1.6) -> None:
    """`count` 1 kHz beeps of 0.1 s, one every 0.25 s, over silence."""
    wave = np.zeros(int(RATE * seconds), dtype=np.float32)
    t = np.arange(int(0.1 * RATE)) / RATE
    for i in range(count):
        start = int((0.1 + 0.25 * i) * RATE)
        wave[start:start + len(t)] = 0.4 * np.sin(2 * np.pi * 1000 * t)
    sf.write(path, wave, RATE)


def _pitch_record(rid: str, clip: str, index: int, facts: bool, chain: bool) -> dict:
    letter = "ABC"[index]
    record = {"id": rid, "audio": [clip], "question": "What is the pitch of this tone?",
              "choices": PITCH_CHOICES, "answer": letter}
    if facts:
        record["facts"] = [{"name": "pitch", "value": PITCHES[index], "unit": "Hz", "event": "tone"}]
    if chain:
        record["reasoning"] = f"I hear a steady tone at {PITCHES[index]:.0f} Hz.\nSo the answer is {letter}."
    return record


def _count_record(rid: str, clip: str, count: int, facts: bool, chain: bool) -> dict:
    record = {"id": rid, "audio": [clip], "question": "How many beeps do you hear?", "answer": str(count),
              "answer_type": "integer"}
    if facts:
        record["facts"] = [{"name": "count", "value": count, "unit": "beeps", "event": "all"}]
    if chain:
        record["reasoning"] = f"I hear {count} short beeps.\nSo the answer is {count}."
    return record


def _text_record(rid: str, a: int, b: int) -> dict:
    return {"id": rid, "question": f"What is {a} plus {b}?", "answer": str(a + b), "answer_type": "integer",
            "reasoning": f"{a} plus {b} is {a + b}.\nSo the answer is {a + b}."}


def write_dataset(root: Path, *, facts: bool, text: bool, sizes=(("train", 18), ("rl", 8), ("heldout", 12))
                  ) -> dict[str, Path]:
    """One JSONL per split under root (audio under root/clips, paths relative to the files); half the
    train audio records carry a reasoning chain. Returns split -> path."""
    clips = root / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in sizes:
        records = []
        for i in range(n):
            rid = f"{split}-{i}"
            chain = split == "train" and i % 2 == 0
            if i % 2 == 0:
                index = (i // 2) % 3
                tone(clips / f"{rid}.wav", PITCHES[index])
                records.append(_pitch_record(rid, f"clips/{rid}.wav", index, facts, chain))
            else:
                count = 1 + (i // 2) % 5
                beeps(clips / f"{rid}.wav", count)
                records.append(_count_record(rid, f"clips/{rid}.wav", count, facts, chain))
        if text and split == "train":
            records += [_text_record(f"text-{i}", i, i + 2) for i in range(8)]
        path = root / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        out[split] = path
    return out


# ---- the record format -----------------------------------------------------------------------------
def test_user_records_are_read_with_defaults_and_absolute_audio(tmp_path):
    paths = write_dataset(tmp_path, facts=True, text=True, sizes=(("train", 4),))
    records = read_record_file(paths["train"])
    assert [r.id for r in records] == ["train-0", "train-1", "train-2", "train-3"] + [f"text-{i}" for i in range(8)]
    pitch, count, text = records[0], records[1], records[4]
    assert pitch.audio == [str(tmp_path / "clips" / "train-0.wav")] and Path(pitch.audio[0]).is_absolute()
    assert (pitch.answer_type, pitch.answer, pitch.choices) == ("choice", "A", PITCH_CHOICES)
    assert [(f.name, f.value, f.unit) for f in pitch.facts] == [("pitch", 220.0, "Hz")]
    assert pitch.reasoning == {"grounded": "I hear a steady tone at 220 Hz.\nSo the answer is A.", "surrogate": "",
                               "empty": ""}
    assert pitch.messages[-1]["content"] == "<think>\nI hear a steady tone at 220 Hz.\nSo the answer is A.\n" \
                                            "</think>\nA. 220 Hz"
    assert (count.answer_type, count.reasoning["grounded"], count.family) == ("integer", "", "user")
    assert (text.audio, text.family) == ([], "text")


@pytest.mark.parametrize("change, field, words", [
    ({"answer": "D"}, "answer", ["not a choice letter", "A, B, C"]),
    ({"choices": None}, "answer_type", ["needed for a question without choices"]),
    ({"choices": None, "answer_type": "integer", "answer": "many"}, "answer", ["not an integer"]),
    ({"choices": None, "answer_type": "label", "labels": ["x"]}, "labels", ["holds the answer"]),
    ({"answer_type": "guess"}, "answer_type", ["accepted: choice, integer"]),
    ({"audio": ["clips/missing.wav"]}, "audio", ["clips/missing.wav does not exist"]),
    ({"audio": [3]}, "audio", ["list of paths"]),
    ({"question": ""}, "question", ["non-empty string"]),
    ({"reasoning": {"grounded": "x", "verbose": "y"}}, "reasoning", ["unknown style 'verbose'"]),
    ({"id": "train-0"}, "id", ["already used on line 1"]),
])
def test_a_bad_line_names_the_file_the_line_and_the_field(tmp_path, change, field, words):
    paths = write_dataset(tmp_path, facts=True, text=False, sizes=(("train", 3),))
    lines = paths["train"].read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[0]), "id": "bad", **change})   # line 2
    paths["train"].write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as e:
        read_record_file(paths["train"])
    message = str(e.value)
    assert message.startswith(f"{paths['train']}:2: field {field!r}"), message
    assert all(w in message for w in words), message


@pytest.mark.parametrize("line, words", [
    ("{not json", ["2: not valid JSON"]),
    ('{"id": "x", "question": "q?"}', ["2: field 'answer': missing"]),
    ('["a list"]', ["2: a record must be a JSON object"]),
    ('{"id": "x", "question": "q?", "answer": "1", "answer_type": "integer", "facts": [{"value": 3}]}',
     ["2: each fact needs name and value"]),
])
def test_malformed_lines_are_refused_with_their_line(tmp_path, line, words):
    paths = write_dataset(tmp_path, facts=False, text=False, sizes=(("train", 1),))
    paths["train"].write_text(paths["train"].read_text() + line + "\n")
    with pytest.raises(ValueError) as e:
        read_record_file(paths["train"])
    assert all(w in str(e.value) for w in words), str(e.value)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="holds no records"):
        read_record_file(empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_record_file(tmp_path / "absent.jsonl")


def test_a_split_without_audio_questions_is_refused_before_any_stage(tmp_path):
    from mgrd.pipeline import stages as S
    from mgrd.pipeline.recipe import load_recipe
    from mgrd.pipeline.runner import Runner

    paths = write_dataset(tmp_path, facts=True, text=True, sizes=(("train", 2), ("heldout", 2)))
    text_only = tmp_path / "rl.jsonl"
    text_only.write_text(json.dumps(_text_record("t", 1, 2)) + "\n")
    recipe = load_recipe("smoke", ["data.source=files", f"data.train={paths['train']}", f"data.rl={text_only}",
                                   f"data.heldout={paths['heldout']}"])
    ctx = S.Context(recipe, Runner(tmp_path / "run", log=lambda m: None), say=lambda m: None)
    with pytest.raises(ValueError, match=r"data.rl \(.*rl.jsonl\) has no question with audio"):
        S.data(ctx)
    assert not (tmp_path / "run" / "data").exists()


def test_the_data_stage_key_covers_the_files_and_their_clips(tmp_path):
    from mgrd.pipeline import stages as S
    from mgrd.pipeline.recipe import load_recipe
    from mgrd.pipeline.runner import Runner

    paths = write_dataset(tmp_path, facts=False, text=True, sizes=(("train", 2), ("heldout", 2)))
    recipe = load_recipe("smoke", ["data.source=files", f"data.train={paths['train']}",
                                   f"data.heldout={paths['heldout']}"])

    def run():
        logs: list[str] = []
        ctx = S.Context(recipe, Runner(tmp_path / "run", log=logs.append), say=lambda m: None)
        return S.data(ctx), logs

    first, logs = run()
    assert logs[0] == "[run] data" and first.output.source == "files"
    assert set(first.output.splits) == {"train", "heldout"} and first.output.splits["train"].records == 10
    again, logs = run()
    assert again.skipped and again.output == first.output
    tone(tmp_path / "clips" / "heldout-0.wav", 330.0)                 # one clip re-recorded
    changed, logs = run()
    assert logs[0].startswith("[redo] data") and changed.key != first.key


# ---- end to end ----------------------------------------------------------------------------------------
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "smoke.yaml"


def _train(tmp_path: Path, paths: dict[str, Path]) -> tuple[dict, str]:
    run_dir = tmp_path / "run"
    data = ["data.source=files"] + [f"data.{s}={p}" for s, p in paths.items()]
    proc = subprocess.run([sys.executable, "-m", "mgrd.cli.main", "train", str(RECIPE), *data,
                           "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((run_dir / "summary.json").read_text()), proc.stderr


def _ids(path: Path) -> set[str]:
    return {json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()}


@pytest.mark.slow
def test_smoke_recipe_on_user_files_with_facts_and_text(tmp_path):
    paths = write_dataset(tmp_path / "data", facts=True, text=True)
    summary, log = _train(tmp_path, paths)
    assert summary["finished"] is True and "world" not in summary
    assert summary["data"] == {"source": "files", "splits": {
        "train": {"records": 26, "audio": 18, "text": 8, "with_facts": 18, "with_chain": 17},
        "rl": {"records": 8, "audio": 8, "text": 0, "with_facts": 8, "with_chain": 0},
        "heldout": {"records": 12, "audio": 12, "text": 0, "with_facts": 12, "with_chain": 0}}}
    names = [s["name"] for s in summary["stages"]]
    assert names[0] == "data" and {"encoder_pretrain", "text_pretrain", "text_rl", "iter1/sft"} <= set(names)
    assert "cognition" not in names and "[skip] cognition: the train data has no self-cognition" in log
    assert summary["distill"]["iter1"]["chains"] == 6 * 2
    assert summary["distill"]["iter1"]["grounding"] == {"facts": 12, "lexicon": 0}
    assert summary["curation"]["iter1"]["questions"] == 6
    final = summary["evals"]["final"]
    assert final["items"] == 12 and final["probes"] == 0 and set(final["per_family"]) == {"user"}
    run = tmp_path / "run"
    # audio CoT only from records that carry a chain (the even train ids), the rest with an empty think
    chained = {f"train-{i}" for i in range(0, 18, 2)}
    assert _ids(run / "cold_start" / "audio_cot.jsonl") <= chained
    assert _ids(run / "cold_start" / "audio_empty.jsonl") | _ids(run / "cold_start" / "audio_cot.jsonl") \
        == {f"train-{i}" for i in range(18)}
    # curation draws from the rl file
    assert _ids(run / "iter1" / "curate" / "audio_prompts.jsonl") <= {f"rl-{i}" for i in range(8)}
    assert (run / "final" / "config.json").is_file()


@pytest.mark.slow
def test_smoke_recipe_on_user_files_without_facts_or_text(tmp_path):
    paths = write_dataset(tmp_path / "data", facts=False, text=False)
    summary, log = _train(tmp_path, paths)
    assert summary["finished"] is True
    assert summary["data"]["splits"]["train"] == {"records": 18, "audio": 18, "text": 0, "with_facts": 0,
                                                  "with_chain": 9}
    names = [s["name"] for s in summary["stages"]]
    for stage in ("encoder_pretrain", "text_pretrain", "text_rl", "cognition"):
        assert stage not in names and f"[skip] {stage}:" in log
    assert {"audio_pretrain", "cold_start", "iter1/distill", "iter1/curate", "iter1/rl"} <= set(names)
    distill = summary["distill"]["iter1"]
    assert distill["grounding"] == {"facts": 0, "lexicon": 12} and distill["judge"] is None
    assert ("iter1/sft" in names) == (distill["kept"] > 0)
    assert summary["evals"]["final"]["items"] == 12
