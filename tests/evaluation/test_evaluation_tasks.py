"""Benchmarks load from fixture directories in their official layouts; bad layouts say what was expected where."""

import importlib.util
import json

import pytest
from conftest import make_bba, make_mmar, make_mmau, make_mmsu, make_spoken_mqa, make_wildspeech

from mgrd.tasks.benchmarks import LayoutError, load_mmau
from mgrd.tasks.registry import grader, load_task, resolve_data_dir, task_names


def test_mmau_layout_and_category_normalised(tmp_path):
    task = load_task("mmau", make_mmau(tmp_path))
    items = task.items()
    assert [i.id for i in items] == ["m1", "m2", "m3"]
    assert items[1].category == "Reasoning"           # stored as ["Reasoning"]
    assert items[0].audio[0].endswith("test-mini-audios/m1.wav")
    assert items[0].meta["sub-category"] == "Acoustic Source Inference"
    assert task.version == "1-v05.15.25"


def test_mmau_official_prompt_golden(tmp_path):
    task = load_task("mmau", make_mmau(tmp_path))
    (message,) = task.messages(task.items()[1])
    assert message["role"] == "user"
    assert message["content"][0] == {"type": "text", "text":
        "What is the tempo?\nPlease choose the answer from the following options, do not provide any additional "
        "explanations or content: \nA. slow\nB. fast\n"}
    assert message["content"][1]["type"] == "audio"
    override = task.messages(task.items()[1], prompt="Q: {question} ({choices})")
    assert override[0]["content"][0]["text"] == "Q: What is the tempo? (A. slow\nB. fast\n)"
    with pytest.raises(ValueError, match="not valid"):
        task.messages(task.items()[1], prompt="{nope}")


def test_mmau_label_sets(tmp_path):
    make_mmau(tmp_path, name="mmau-test-mini-original.json")
    assert load_task("mmau-original", tmp_path).version == "1-original"
    with pytest.raises(LayoutError, match="mmau-test-mini.json"):
        load_task("mmau", tmp_path)
    with pytest.raises(ValueError, match="accepted: v05.15.25, original"):
        load_mmau(tmp_path, labels="v2")


def test_mmau_lmms_choices_as_json_string(tmp_path):
    items = [{**make_item, "choices": json.dumps(["x", "y"]), "answer": "y"} for make_item in
             [{"id": "j", "question": "q", "category": "Reasoning"}]]
    make_mmau(tmp_path, items=items)
    assert load_task("mmau", tmp_path).items()[0].choices == ("x", "y")


def test_missing_audio_says_where(tmp_path):
    make_mmau(tmp_path)
    (tmp_path / "test-mini-audios" / "m2.wav").unlink()
    with pytest.raises(LayoutError, match=r"1 audio file\(s\) missing, e.g. .*m2.wav.*test-mini-audios/<id>.wav"):
        load_task("mmau", tmp_path)


def test_wrong_layout_and_missing_fields(tmp_path):
    (tmp_path / "MMAR-meta.json").write_text(json.dumps([{"id": "1", "question": "q"}]))
    with pytest.raises(LayoutError, match="item 0 has no field audio_path, choices, answer"):
        load_task("mmar", tmp_path)
    with pytest.raises(LayoutError, match="expected one of question/mmsu.jsonl"):
        load_task("mmsu", tmp_path)
    with pytest.raises(LayoutError, match="does not exist"):
        load_task("wildspeech", tmp_path / "nope")


def test_mmar_mmsu_layouts(tmp_path):
    mmar = load_task("mmar", make_mmar(tmp_path / "mmar"))
    assert mmar.sampling["repetition_penalty"] == 1.07 and mmar.items()[0].meta["modality"] == "sound"
    mmsu = load_task("mmsu", make_mmsu(tmp_path / "mmsu"))
    assert [i.choices for i in mmsu.items()] == [("happy", "sad", "angry", "calm"), ("yes", "no")]
    assert mmsu.items()[0].answer == "sad" and mmsu.items()[1].meta["task_name"] == "intonation"


def test_bigbench_audio_layout_audio_first(tmp_path):
    task = load_task("bigbench_audio", make_bba(tmp_path))
    assert [i.category for i in task.items()] == ["formal_fallacies", "navigate", "object_counting", "web_of_lies"]
    assert task.items()[0].audio[0].endswith("data/question_0.mp3")
    content = task.messages(task.items()[0])[0]["content"]
    assert [p["type"] for p in content] == ["audio", "text"] and content[1]["text"].startswith("仅用")


def test_spoken_mqa_splits(tmp_path):
    task = load_task("spoken_mqa", make_spoken_mqa(tmp_path))
    assert [(i.id, i.category, i.answer) for i in task.items()] == [
        ("d1", "short_digit", "7"), ("q1", "multi_step_reasoning", "He has 2 + 3 = 5 apples.\n#### 1,250.0")]
    assert task.messages(task.items()[0])[0]["content"][0] == {
        "type": "text", "text": "Solve the given math question step by step."}
    with pytest.raises(LayoutError, match="short_digit"):
        load_task("spoken_mqa", tmp_path / "audio")


def test_wildspeech_audio_only(tmp_path):
    pytest.importorskip("langdetect", reason="the `langdetect` extra is not installed")
    task = load_task("wildspeech", make_wildspeech(tmp_path))
    item = task.items()[0]
    assert (item.id, item.category, item.meta["noise"]) == ("h1", "Text Creation", "natural_noise")
    assert [p["type"] for p in task.messages(item)[0]["content"]] == ["audio"]


def test_registry(tmp_path):
    assert {"mmau", "mmar", "mmsu", "bigbench_audio", "spoken_mqa", "wildspeech", "world"} <= set(task_names())
    with pytest.raises(KeyError, match="unknown task 'nope'; known tasks: mmau"):
        load_task("nope", tmp_path)
    (tmp_path / "MMAU").mkdir()
    assert resolve_data_dir("mmau", tmp_path) == tmp_path / "MMAU"
    with pytest.raises(FileNotFoundError, match="expected one of MMAR, mmar"):
        resolve_data_dir("mmar", tmp_path)
    assert grader("mmsu").name == "mmsu" and grader("world") is None


@pytest.mark.skipif(importlib.util.find_spec("mgrd.tasks.world") is not None, reason="world module present")
def test_world_entry_says_module_is_missing(tmp_path):
    with pytest.raises(ModuleNotFoundError, match="mgrd.tasks.world.load_world_task"):
        load_task("world", tmp_path)
