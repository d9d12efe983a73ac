"""Reading facts off the encoder's frame heads: onsets, melody notes, beep pitches, chords, contours."""

import pytest
import torch

from mgrd.data.world.targets import FRAME_LABELS, FRAMES, LOWEST_NOTE, NOTE_RANGE, NOTES
from mgrd.training.encoder_probes import contour_of, frame_read, onset_runs, read_frames, score_frames


def frames_of(length: int, onsets: dict[int, str], notes: dict[tuple[int, int], list[int]]):
    """Frame-head logits of a clip: +5 for each onset's kind and each sounding note, -5 elsewhere."""
    kinds = torch.full((length, len(FRAME_LABELS)), -5.0)
    kinds[:, 0] = 0.0
    for t, label in onsets.items():
        kinds[t, FRAME_LABELS.index(label)] = 5.0
    roll = torch.full((length, 1 + NOTE_RANGE), -5.0)
    roll[:, 0] = 0.0                                   # "no note" wherever no note is set
    for (a, b), midis in notes.items():
        for m in midis:
            roll[a:b, 1 + m - LOWEST_NOTE] = 5.0
    return kinds, roll


def test_onset_runs_merge_neighbouring_frames_of_one_kind():
    kinds, _ = frames_of(8, {1: "high", 2: "high", 3: "low", 6: "high"}, {})
    assert onset_runs(kinds) == [(1, "high"), (3, "low"), (6, "high")]


@pytest.mark.parametrize("notes, shape", [([60, 62, 65], "rising"), ([65, 60], "falling"), ([60, 64, 62], "arch"),
                                          ([64, 60, 61, 66], "valley"), ([60, 62, 60, 62], None), ([60, 60], None),
                                          ([60], None)])
def test_contour_of(notes, shape):
    assert contour_of(notes) == shape


def test_a_melody_is_read_note_by_note_and_its_contour_follows():
    kinds, roll = frames_of(12, {1: "note", 5: "note", 9: "note"}, {(1, 4): [60], (5, 8): [64], (9, 12): [62]})
    facts = read_frames(kinds, roll)
    assert [facts[f"pitch:note {k}"] for k in (1, 2, 3)] == [60, 64, 62] and "pitch:note 4" not in facts
    assert facts["contour:melody"] == "arch" and facts["count:beat"] == 0


def test_beeps_are_counted_by_kind_and_their_pitches_read_where_they_start():
    kinds, roll = frames_of(10, {0: "high", 3: "low", 6: "high"}, {(0, 2): [70], (3, 5): [58], (6, 8): [70]})
    facts = read_frames(kinds, roll)
    assert (facts["count:high beeps"], facts["count:low beeps"], facts["count:all beeps"]) == (2, 1, 3)
    assert facts["pitch:high beeps"] == 70 and facts["pitch:low beeps"] == 58


def test_chords_and_whole_clip_properties_are_left_to_the_fact_heads():
    assert frame_read("count:all beeps") and frame_read("pitch:note 3") and frame_read("pitch:low beeps")
    assert frame_read("contour:melody")
    assert not frame_read("pitch:root") and not frame_read("chord:chord") and not frame_read("tempo:beat")
    kinds, roll = frames_of(10, {2: "chord"}, {(2, 9): [55, 59, 62]})
    assert not any(k.startswith(("chord:", "pitch:")) for k in read_frames(kinds, roll))


def test_score_frames_against_targets_only_for_fact_types_located_in_time():
    kinds, roll = frames_of(8, {1: "note", 4: "note"}, {(1, 3): [60], (4, 7): [67]})
    outputs = {FRAMES: kinds[None].clone(), NOTES: roll[None].clone()}
    targets = {"pitch:note 1": 60.4, "pitch:note 2": 65.0,       # 60 within a semitone of 60.4; 67 is not 65
               "contour:melody": "rising", "pitch:note 3": 70.0,  # no third note read: wrong
               "tempo:beat": 120.0, "pitch:root": 60.0,           # facts of the heads
               FRAMES: [[1, "note"]]}                             # frame targets are no fact
    scored = score_frames(outputs, [{"targets": targets}])
    assert scored == {"pitch:note 1": [1], "pitch:note 2": [0], "contour:melody": [1], "pitch:note 3": [0]}
    # padding frames (-inf) are not read: the same clip padded to 12 frames scores the same
    padded = {k: torch.cat([v, torch.full((1, 4, v.shape[-1]), float("-inf"))], 1) for k, v in outputs.items()}
    assert score_frames(padded, [{"targets": targets}]) == scored
