"""A grader named in a config imports only mgrd's modules unless allowed (issue 15, finding 13)."""

import sys

import pytest

from mgrd.training.ppo import custom_graders_allowed, load_grader
from mgrd.training.rewards import reference_grader


def test_project_graders_load():
    assert load_grader("reference") is reference_grader
    assert load_grader("mgrd.training.rewards:reference_grader") is reference_grader


def test_a_module_outside_mgrd_is_not_imported(tmp_path, monkeypatch):
    (tmp_path / "evil_grader.py").write_text("import sys\nsys.modules[__name__].RAN = True\n"
                                             "def grade(answer, record):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="--allow-custom-grader"):
        load_grader("evil_grader:grade")
    assert "evil_grader" not in sys.modules   # its code never ran
    with custom_graders_allowed():
        grade = load_grader("evil_grader:grade")
    assert grade("x", None) == 1.0 and sys.modules["evil_grader"].RAN
    monkeypatch.delitem(sys.modules, "evil_grader")


def test_a_missing_function_is_a_clear_error():
    with pytest.raises(ValueError, match="no function 'nope'"):
        load_grader("mgrd.training.rewards:nope")
