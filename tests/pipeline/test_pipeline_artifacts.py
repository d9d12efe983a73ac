"""Typed artifacts: digests worked out by hand, markers that give back equal objects, refusals of what is no artifact."""

import hashlib
import json
from dataclasses import dataclass

import pytest

from mgrd.pipeline import outputs as O
from mgrd.pipeline.artifacts import (FULL_LIMIT, MIB, EvalResult, ModelDir, RecordFile, artifact, decode, encode,
                                     file_digest, intact, model_digest, normalized)


def _sha(*parts: bytes) -> str:
    return hashlib.sha256(b"".join(parts)).hexdigest()[:16]


def test_a_small_file_is_hashed_whole_with_its_size(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"hello")
    assert file_digest(path) == _sha(b"5\n", b"hello")


def test_a_large_file_is_hashed_by_size_head_and_tail(tmp_path):
    size = FULL_LIMIT + 3 * MIB
    data = bytearray(b"\x01" * size)
    path = tmp_path / "big.safetensors"
    path.write_bytes(bytes(data))
    expected = _sha(f"{size}\n".encode(), bytes(data[:MIB]), bytes(data[-MIB:]))
    assert file_digest(path) == expected
    data[size // 2] = 7                     # a byte in the middle: not seen (the documented price of speed)
    path.write_bytes(bytes(data))
    assert file_digest(path) == expected
    data[-1] = 7                            # a byte in the last MiB is
    path.write_bytes(bytes(data))
    assert file_digest(path) != expected
    path.write_bytes(bytes(data) + b"\x00")  # and so is the size
    assert file_digest(path) != expected


def _model(root, weights=b"w", config='{"model_type": "step_audio_2"}'):
    root.mkdir(exist_ok=True)
    (root / "config.json").write_text(config)
    (root / "model.safetensors").write_bytes(weights)
    return root


def test_a_model_digest_covers_config_and_weights_not_other_files(tmp_path):
    root = _model(tmp_path / "m")
    digest = model_digest(root)
    (root / "training_log.txt").write_text("not part of the model")
    assert model_digest(root) == digest
    assert model_digest(_model(tmp_path / "m", weights=b"v")) != digest
    assert model_digest(_model(tmp_path / "m", config="{}")) != digest
    assert model_digest(_model(tmp_path / "other")) == digest          # the same files elsewhere: same digest
    with pytest.raises(FileNotFoundError, match="no config.json"):
        model_digest(tmp_path / "nothing")


def test_artifacts_know_whether_their_files_are_intact(tmp_path):
    model = ModelDir.of(_model(tmp_path / "m"))
    records = tmp_path / "r.jsonl"
    records.write_text('{"a": 1}\n\n{"b": 2}\n')
    rf = RecordFile.of(records)
    assert rf.records == 2 and rf.digest == file_digest(records)
    ev = EvalResult.write(tmp_path / "eval.json", "final", {"accuracy": {"think": 0.5}}, model)
    assert ev.load() == {"accuracy": {"think": 0.5}}
    out = O.Curated(rf, O.CurationReport(1, 1, 4, (0, 1, 0, 0, 0), "range", 1, 3, False))
    assert intact(out) and intact(ev) and intact(O.Trained(model, 1))
    records.write_text('{"a": 1}\n')
    assert not intact(out)
    (tmp_path / "m" / "model.safetensors").write_bytes(b"changed")
    assert not intact(ev) and not intact(O.Trained(model, 1))
    assert not ModelDir(str(tmp_path / "gone"), "x").intact()


def test_every_stage_output_comes_back_equal_from_its_marker(tmp_path):
    model = ModelDir("/m", "d")
    outputs = [
        O.DataSet("files", "/d", {"train": RecordFile("/d/t.jsonl", "d1", 3)}, (O.DataReport("train", 3, 2, 1, 0, 1),)),
        O.DataSet("world", "/w", {}, (), ("sound", "text"), True),
        O.BaseModel(model, 1234), O.Trained(model, 8, None), O.EncoderTrained(model, 6, {"count_acc": 0.5}),
        O.RLTrained(model, 2, (O.RLPoint(1, 0.5, 0.25, 12.0), O.RLPoint(2))),
        O.Distilled(None, O.DistillReport(4, 0, (O.FilterCount("grounding", 4, 0, {"no claim": 4}),),
                                          {"facts": 0, "lexicon": 4}, "judge@http://x")),
        O.Curated(RecordFile("/p", "d2", 2), O.CurationReport(2, 2, 4, (0, 0, 2, 0, 0), "range", 1, 3, False)),
        O.CognitionTrained(model, O.CognitionReport(4, 1, 3)),
        EvalResult("final", "/e.json", "d3", model)]
    for out in outputs:
        marker = json.loads(json.dumps(encode(out)))
        back = decode(marker)
        assert back == out and type(back) is type(out)
        assert normalized(out) == out
    # a list given where the dataclass says tuple comes back as a tuple: fresh and reused results compare equal
    assert normalized(O.RLTrained(model, 1, [O.RLPoint(1)])) == O.RLTrained(model, 1, (O.RLPoint(1),))
    assert O.DistillReport(4, 1, (), {}).keep_rate == 0.25 and O.DistillReport(0, 0, (), {}).keep_rate == 0.0


def test_what_is_no_artifact_is_refused():
    @dataclass
    class Loose:
        x: int

    with pytest.raises(TypeError, match="frozen dataclass"):
        artifact(Loose)

    @dataclass(frozen=True)
    class Unregistered:
        x: int

    with pytest.raises(TypeError, match="not a registered artifact"):
        encode(Unregistered(1))
    with pytest.raises(TypeError, match="cannot store a set"):
        encode(O.EncoderTrained(ModelDir("/m", "d"), 1, {"x": {1, 2}}))
    with pytest.raises(ValueError, match="unknown artifact type 'Gone'"):
        decode({"__artifact__": "Gone", "x": 1})

    @artifact
    @dataclass(frozen=True)
    class Twice:
        y: int

    assert artifact(Twice) is Twice                     # registering the same class again is harmless
    with pytest.raises(TypeError, match="two artifact classes are named Twice"):
        @artifact
        @dataclass(frozen=True)
        class Twice:                                    # noqa: F811
            z: int
