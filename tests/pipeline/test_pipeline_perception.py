"""The perception ladder and the text control: description records, counterparts, and their report sections."""

from mgrd.data.records import Fact, Record
from mgrd.pipeline.perception import DESCRIBE, described, ladder_section, text_control_section, text_counterparts


def _record(id, family="sound", meta=None, audio=("audio/a.flac",)):
    return Record(id=id, family=family, question_type="perception", question="How many beeps?", choices=None,
                  answer="3", facts=[Fact("count", 3, "beeps", "all beeps")], audio=list(audio),
                  reasoning={"grounded": "I hear 3 beeps.", "surrogate": "", "empty": ""}, messages=[],
                  kind="beep_count", answer_type="integer", meta=meta or {})


def test_a_described_item_keeps_its_clips_and_facts_and_asks_for_a_description():
    d = described(_record("x"))
    assert d.id == "x:describe" and d.question == DESCRIBE and d.choices is None
    assert d.audio == ["audio/a.flac"] and d.facts == _record("x").facts


def test_text_counterparts_are_text_items_that_restate_an_audio_item():
    records = [_record("a"), _record("t1", "text", {"counterpart_of": "beep_count"}, ()),
               _record("t2", "text", {}, ()), _record("t3", "text", {"counterpart_of": "tempo"}, ())]
    assert [r.id for r in text_counterparts(records, 5)] == ["t1", "t3"]
    assert [r.id for r in text_counterparts(records, 1)] == ["t1"]


def test_ladder_section_lists_each_rung_and_stage_per_fact_type():
    summary = {"perception": {"encoder": {"by_type": {"count": {"accuracy": 0.9, "n": 100}}}},
               "evals": {"final": {"ladder": {"verbalisation": {"by_type": {"count": {"accuracy": 0.5, "n": 8},
                                                                            "pitch": {"accuracy": 0.25, "n": 4}}},
                                              "chains": {"by_type": {}}}}}}
    lines = ladder_section(summary)
    assert "| rung | stage | count | pitch |" in lines
    assert any(line.startswith("| encoder probes") and "| 90 % (100) | – |" in line for line in lines)
    assert any("Describe what you hear" in line and "| 50 % (8) | 25 % (4) |" in line for line in lines)
    assert ladder_section({"evals": {}}) == []


def test_ladder_section_shows_both_encoder_readings_beside_the_probe():
    count = lambda acc: {"count": {"accuracy": acc, "n": 10}}
    summary = {"perception": {"encoder": {"by_type": count(0.9), "frames": {"by_type": count(0.9)},
                                          "heads": {"by_type": count(0.6)}}}}
    lines = ladder_section(summary)
    assert any("| encoder_pretrain | 90 % (10) |" in line for line in lines)
    assert any("| encoder_pretrain, frames only | 90 % (10) |" in line for line in lines)
    assert any("| encoder_pretrain, heads only | 60 % (10) |" in line for line in lines)


def test_text_control_section_shows_the_paired_claim():
    summary = {"evals": {"final": {"text_control": {"items": 10, "accuracy": {"think": 0.7, "no_think": 0.4}}}},
               "claims": [{"name": "text: think > no-think", "stage": "final", "diff": 0.3, "ci95": [0.1, 0.5],
                           "verdict": "reproduces"}]}
    lines = text_control_section(summary)
    assert "| final | 70.0 % | 40.0 % | +30.0 [+10.0, +50.0], reproduces | 10 |" in lines
