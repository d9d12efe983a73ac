"""World tasks: loading a generated split, and each item graded by its own answer type."""

from __future__ import annotations

import pytest

from mgrd.chat import parse_completion
from mgrd.data.records import messages_for
from mgrd.data.world import WorldConfig, generate_split
from mgrd.tasks import Task
from mgrd.tasks.world import load_world_task

FAMILIES = ("sound", "music", "composite", "cognition", "text")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    generate_split(root, WorldConfig("heldout", 80, FAMILIES, seed=5))
    return root


def _answer(assistant: str) -> str:
    return parse_completion(assistant.removeprefix("<think>\n")).answer


def test_items_carry_audio_paths_choices_and_grading_metadata(world):
    task = load_world_task(world)
    assert isinstance(task, Task) and task.name == "world-heldout" and len(task.items()) == 80
    for item in task.items():
        assert all(p.endswith(".flac") and (world / p).is_file() for p in item.audio)
        assert item.category.split("/")[0] in FAMILIES
        assert item.meta["answer_type"] in ("choice", "integer", "number", "label", "cognition")
        user = task.messages(item)[0]["content"]
        assert user[0]["text"].startswith(item.question)
        assert [p["audio"] for p in user[1:]] == list(item.audio)
        if item.choices:
            assert user[0]["text"].endswith("\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(item.choices)))


def test_the_grounded_completion_of_every_record_grades_right(world):
    from mgrd.data import read_split

    task = load_world_task(world)
    items = {i.id: i for i in task.items()}
    surrogate_scores = []
    for record in read_split(world, "heldout"):
        item = items[record.id]
        assert task.grade(item, _answer(messages_for(record, "grounded")[1]["content"])) == 1.0, record.id
        assert task.grade(item, _answer(messages_for(record, "empty")[1]["content"])) == 1.0
        surrogate_scores.append(task.grade(item, _answer(messages_for(record, "surrogate")[1]["content"])))
    assert None not in surrogate_scores
    assert sum(surrogate_scores) / len(surrogate_scores) < 0.6  # guesses are often wrong


def test_hand_written_answers_per_answer_type(world):
    task = load_world_task(world)
    by_type = {}
    for item in task.items():
        by_type.setdefault(item.meta["answer_type"], item)
    choice = by_type["choice"]
    assert task.grade(choice, choice.answer) == 1.0
    wrong = next(chr(65 + i) for i in range(len(choice.choices)) if chr(65 + i) != choice.answer)
    assert task.grade(choice, f"The answer is {wrong}.") == 0.0
    assert task.grade(choice, "I don't know") == 0.0          # names no choice: wrong, not left out
    integer = by_type["integer"]
    assert task.grade(integer, f"So it is {integer.answer}.") == 1.0
    assert task.grade(integer, str(int(integer.answer) + 1)) == 0.0
    assert task.grade(integer, "") == 0.0
    number = by_type["number"]
    assert task.grade(number, f"{float(number.answer) * 1.05:.1f}") == (1.0 if number.meta["tolerance"] >= 0.05 else 0.0)
    cognition = by_type["cognition"]
    assert task.grade(cognition, "Sorry, as a text-based model I cannot hear audio.") == 0.0


def test_family_filter_and_errors(world, tmp_path):
    task = load_world_task(world, families=["music"])
    assert task.items() and all(i.category.startswith("music/") for i in task.items())
    with pytest.raises(ValueError, match=r"families \['speech'\] are not in"):
        load_world_task(world, families=["speech"])
    with pytest.raises(ValueError, match="split 'train' is not complete.*complete splits: \\['heldout'\\]"):
        load_world_task(world, split="train")
    with pytest.raises(FileNotFoundError, match="no dataset directory"):
        load_world_task(tmp_path / "missing")


def test_world_dev_task_loads_the_dev_split_and_refuses_a_folder_without_it(world, tmp_path):
    from mgrd.tasks.registry import load_task

    generate_split(tmp_path, WorldConfig("dev", 6, ("text",), seed=5))
    task = load_task("world-dev", tmp_path)
    assert task.name == "world-dev" and len(task.items()) == 6
    assert all(i.id.startswith("dev-") for i in task.items())
    with pytest.raises(ValueError, match="split 'dev' is not complete"):
        load_task("world-dev", world)      # a folder holding the held-out split only
