"""The record format: exact JSON line, messages in each reasoning style, loading and its errors."""

from __future__ import annotations

import json

import pytest

from mgrd.chat import render
from mgrd.data import Fact, Record, messages_for, read_records


def _record(**overrides) -> Record:
    fields = dict(id="r1", family="music", question_type="perception", question="Is this chord major or minor?",
                  choices=["major", "minor"], answer="B", facts=[Fact("chord", "minor", "", "chord")],
                  audio=["audio/r1.flac"],
                  reasoning={"grounded": "I hear a minor third.", "surrogate": "Songs are usually major.",
                             "empty": ""},
                  messages=[], kind="chord_quality", answer_type="choice", surrogate_answer="A")
    fields.update(overrides)
    return Record(**fields)


GOLDEN_LINE = (
    '{"id": "r1", "family": "music", "question_type": "perception", "question": "Is this chord major or minor?", '
    '"choices": ["major", "minor"], "answer": "B", "facts": [{"name": "chord", "value": "minor", "unit": "", '
    '"event": "chord"}], "audio": ["audio/r1.flac"], "reasoning": {"grounded": "I hear a minor third.", '
    '"surrogate": "Songs are usually major.", "empty": ""}, "messages": [], "kind": "chord_quality", '
    '"answer_type": "choice", "tolerance": 0.0, "labels": null, "surrogate_answer": "A", "split": "", "seed": 0, '
    '"duration": 0.0, "meta": {}}')


def test_record_line_is_golden_and_round_trips(tmp_path):
    record = _record()
    assert json.dumps(record.to_dict()) == GOLDEN_LINE
    path = tmp_path / "x.jsonl"
    path.write_text(GOLDEN_LINE + "\n\n" + GOLDEN_LINE.replace('"r1"', '"r2"', 1) + "\n")
    loaded = list(read_records(path))
    assert loaded[0] == record and loaded[1].id == "r2"


def test_messages_in_each_style_are_exact():
    record = _record()
    user = {"role": "user", "content": [{"type": "text", "text": "Is this chord major or minor?\nA. major\nB. minor"},
                                        {"type": "audio", "audio": "audio/r1.flac"}]}
    assert messages_for(record) == [user, {"role": "assistant",
                                           "content": "<think>\nI hear a minor third.\n</think>\nB. minor"}]
    assert messages_for(record, "surrogate")[1]["content"] == "<think>\nSongs are usually major.\n</think>\nA. major"
    assert messages_for(record, "empty")[1]["content"] == "<think>\n\n</think>\nB. minor"
    # The chat template accepts them: one audio placeholder, the generation prompt after the user turn.
    prompt = render(messages_for(record)[:1])
    assert prompt.count("<audio_patch>") == 1 and prompt.endswith("<|BOT|>assistant\n<think>\n")


def test_open_answers_are_written_as_they_are():
    record = _record(choices=None, answer="7", answer_type="integer", surrogate_answer="4")
    assert messages_for(record)[1]["content"].endswith("</think>\n7")
    assert messages_for(record)[0]["content"][0]["text"] == "Is this chord major or minor?"


def test_bad_records_and_styles_raise_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown reasoning style 'fancy'; accepted: grounded, surrogate, empty"):
        messages_for(_record(), "fancy")
    path = tmp_path / "bad.jsonl"
    path.write_text(GOLDEN_LINE + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        list(read_records(path))
    obj = json.loads(GOLDEN_LINE)
    del obj["facts"]
    path.write_text(json.dumps(obj) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: missing keys \['facts'\]"):
        list(read_records(path))
    obj = json.loads(GOLDEN_LINE)
    obj["question_type"] = "trivia"
    with pytest.raises(ValueError, match="question_type 'trivia' is not one of"):
        Record.from_dict(obj)
    obj = json.loads(GOLDEN_LINE)
    obj["reasoning"] = {"grounded": "x"}
    with pytest.raises(ValueError, match="reasoning must map each of"):
        Record.from_dict(obj)
