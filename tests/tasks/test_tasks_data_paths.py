"""Paths in benchmark and record files stay inside their data folder (issue 15, finding 4)."""

import json
import os

import numpy as np
import pytest
import soundfile

from mgrd.io import OutsideDataError, data_path, outside_data_allowed
from mgrd.tasks.registry import load_task


def _tone(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, 0.1 * np.sin(np.arange(8000) / 5), 16000)


def _mmau(root, audio_id):
    root.mkdir(parents=True, exist_ok=True)
    row = {"id": "q1", "audio_id": audio_id, "question": "What?", "choices": ["a", "b"], "answer": "A",
           "task": "sound", "difficulty": "easy", "category": "x", "sub-category": "y", "dataset": "d"}
    (root / "mmau-test-mini.json").write_text(json.dumps([row]))


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_benchmark_audio_outside_the_folder_is_refused(tmp_path, how):
    secret = tmp_path / "outside" / "secret.wav"
    _tone(secret)
    root = tmp_path / "MMAU"
    if how == "absolute":
        _mmau(root, str(secret))
    elif how == "dotdot":
        _mmau(root, "../outside/secret.wav")
    else:
        _mmau(root, "./audio/link.wav")
        (root / "audio").mkdir()
        os.symlink(secret, root / "audio" / "link.wav")
    with pytest.raises(OutsideDataError, match="outside the data folder.*--allow-outside-data"):
        load_task("mmau", root)
    with outside_data_allowed():
        task = load_task("mmau", root)
    assert os.path.samefile(task.items()[0].audio[0], secret)


def test_paths_inside_the_folder_still_load(tmp_path):
    root = tmp_path / "MMAU"
    _mmau(root, "./audio/a.wav")
    _tone(root / "audio" / "a.wav")
    task = load_task("mmau", root)
    assert os.path.samefile(task.items()[0].audio[0], root / "audio" / "a.wav")


def test_data_path_rules(tmp_path):
    assert data_path(tmp_path, "a/b.wav", "x") == tmp_path / "a" / "b.wav"
    with pytest.raises(OutsideDataError, match="item 3"):
        data_path(tmp_path, "/etc/passwd", "item 3")
    with outside_data_allowed():
        assert str(data_path(tmp_path, "/etc/passwd", "x")) == "/etc/passwd"
    with pytest.raises(OutsideDataError):   # the permission ends with its block
        data_path(tmp_path, "../x", "x")


def test_record_file_audio_outside_its_folder_is_refused(tmp_path):
    from mgrd.pipeline.sources import read_record_file

    _tone(tmp_path / "secret.wav")
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(json.dumps({"id": "r1", "question": "Q?", "choices": ["a", "b"], "answer": "A",
                                                  "audio": ["../secret.wav"]}) + "\n")
    with pytest.raises(OutsideDataError, match="train.jsonl:1"):
        read_record_file(data / "train.jsonl")
    with outside_data_allowed():
        assert read_record_file(data / "train.jsonl")[0].audio == [str((tmp_path / "secret.wav").resolve())]
