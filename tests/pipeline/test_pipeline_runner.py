"""Stage bookkeeping: skip when done, redo on a changed key, resume after a failure, share across runs."""

import json

import pytest

from mgrd.pipeline.runner import DONE, KEY, Runner, StageResult, rl_series, stage_key, write_summary


def _work(calls, info=None, name="out.txt"):
    def work(sdir):
        calls.append(sdir)
        (sdir / name).write_text(f"call {len(calls)}")
        return dict(info or {"n": len(calls)})
    return work


def _runner(run_dir, **kw):
    logs = []
    return Runner(run_dir, log=logs.append, **kw), logs


def test_a_done_stage_is_skipped_by_a_second_runner(tmp_path):
    calls = []
    first = _runner(tmp_path)[0].stage("data", {"n": 3}, [], _work(calls))
    assert not first.skipped and first.info == {"n": 1} and len(calls) == 1
    runner, logs = _runner(tmp_path)
    again = runner.stage("data", {"n": 3}, [], _work(calls))
    assert len(calls) == 1
    assert again.skipped and again.key == first.key and again.info == {"n": 1}
    assert runner.results["data"] is again
    assert logs[0].startswith("[skip] data")
    marker = json.loads((tmp_path / "data" / DONE).read_text())
    assert marker["key"] == first.key == stage_key("data", {"n": 3}) and marker["stage"] == "data"


def test_changed_settings_rerun_and_clear_the_old_stage_dir(tmp_path):
    calls = []
    _runner(tmp_path)[0].stage("data", {"n": 3}, [], _work(calls, name="old.txt"))
    assert (tmp_path / "data" / "old.txt").is_file()
    runner, logs = _runner(tmp_path)
    result = runner.stage("data", {"n": 4}, [], _work(calls, name="new.txt"))
    assert len(calls) == 2 and not result.skipped
    assert not (tmp_path / "data" / "old.txt").exists() and (tmp_path / "data" / "new.txt").is_file()
    assert logs[0].startswith("[redo] data")
    assert (tmp_path / "data" / KEY).read_text().strip() == result.key == stage_key("data", {"n": 4})


def test_an_upstream_change_changes_the_downstream_key(tmp_path):
    calls = {"up": [], "down": []}

    def run(up_settings):
        runner = _runner(tmp_path)[0]
        up = runner.stage("up", up_settings, [], _work(calls["up"]))
        return up, runner.stage("down", {"same": True}, [up], _work(calls["down"]))

    up1, down1 = run({"lr": 1})
    up2, down2 = run({"lr": 1})
    assert (len(calls["up"]), len(calls["down"])) == (1, 1) and down2.skipped
    up3, down3 = run({"lr": 2})
    assert up3.key != up1.key and down3.key != down1.key
    assert (len(calls["up"]), len(calls["down"])) == (2, 2) and not down3.skipped
    # A key passed as a string counts the same as the StageResult carrying it.
    assert down3.key == stage_key("down", {"same": True}, [up3.key])


def test_a_failed_stage_resumes_with_its_key_and_accumulates_wall_time(tmp_path):
    calls = []

    def failing(sdir):
        calls.append(sdir)
        (sdir / "checkpoint").write_text("step 5")
        raise RuntimeError("preempted")

    with pytest.raises(RuntimeError, match="preempted"):
        _runner(tmp_path)[0].stage("train", {"steps": 10}, [], failing)
    sdir = tmp_path / "train"
    key = (sdir / KEY).read_text().strip()
    assert key == stage_key("train", {"steps": 10}) and not (sdir / DONE).exists()
    first_wall = json.loads((sdir / "wall.json").read_text())["wall_s"]
    assert first_wall >= 0.0

    def resuming(sdir):
        calls.append(sdir)
        assert (sdir / "checkpoint").read_text() == "step 5"             # the interrupted work is kept
        return {"resumed": True}

    runner, logs = _runner(tmp_path)
    result = runner.stage("train", {"steps": 10}, [], resuming)
    assert len(calls) == 2 and result.key == key and result.info == {"resumed": True}
    assert "[resume] train" in logs
    wall = json.loads((sdir / "wall.json").read_text())["wall_s"]
    assert wall >= first_wall and result.wall_s >= first_wall
    assert json.loads((sdir / DONE).read_text())["wall_s"] == pytest.approx(result.wall_s)


def test_a_shared_run_dir_lends_its_done_stage(tmp_path):
    calls = []
    other = tmp_path / "other"
    done = _runner(other)[0].stage("data", {"n": 3}, [], _work(calls))
    runner, logs = _runner(tmp_path / "mine", shared=[tmp_path / "missing", other])
    lent = runner.stage("data", {"n": 3}, [], _work(calls))
    assert len(calls) == 1 and lent.skipped and lent.key == done.key and lent.info == done.info
    assert logs == [f"[shared] data: done in {other}"]
    assert not (tmp_path / "mine" / "data").exists()
    # Another key in the shared dir is not lent.
    runner.stage("data", {"n": 4}, [], _work(calls))
    assert len(calls) == 2


def test_rl_series_keeps_the_last_record_of_each_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": 1, "reward": 0.1, "accuracy": 0.2, "reasoning_tokens": 30},
            {"step": 2, "reward": 0.3, "accuracy": 0.4},
            {"step": 1, "reward": 0.5, "accuracy": 0.6, "reasoning_tokens": 40},   # a resumed step 1
            {"step": 0, "reward": 0.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    assert rl_series(path) == [
        {"iteration": 0, "reward": 0.0, "accuracy": None, "reasoning_tokens": None},
        {"iteration": 1, "reward": 0.5, "accuracy": 0.6, "reasoning_tokens": 40},
        {"iteration": 2, "reward": 0.3, "accuracy": 0.4, "reasoning_tokens": None}]
    assert rl_series(path, keys=("reward",)) == [{"iteration": 0, "reward": 0.0}, {"iteration": 1, "reward": 0.5},
                                                 {"iteration": 2, "reward": 0.3}]
    assert rl_series(tmp_path / "absent.jsonl") == []


def test_write_summary_gathers_the_infos(tmp_path):
    results = {
        "world": StageResult("world", "k0", {"world": {"items": 100}}, 1.0, True),
        "eval-base": StageResult("eval-base", "k1", {"eval": {"acc": 0.4}, "eval_name": "base"}, 2.0, False),
        "eval-final": StageResult("eval-final", "k2", {"eval": {"acc": 0.6}}, 3.0, False),
        "iter1/distill": StageResult("iter1/distill", "k3", {"distill": {"kept": 5}}, 4.0, False),
        "iter1/curation": StageResult("iter1/curation", "k4", {"curation": {"kept": 7}}, 5.0, False),
        "iter1/rl": StageResult("iter1/rl", "k5", {"rl": [{"iteration": 1, "reward": 0.5}]}, 6.0, False),
        "cognition": StageResult("cognition", "k6", {"cognition": {"pairs": 9}}, 7.0, False),
    }
    summary = write_summary(tmp_path, "tiny", results, finished_run=True)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["recipe"] == "tiny" and summary["run_dir"] == str(tmp_path) and summary["finished"] is True
    assert summary["wall_s"] == pytest.approx(28.0)
    assert summary["stages"][0] == {"name": "world", "wall_s": 1.0} and len(summary["stages"]) == 7
    assert summary["evals"] == {"base": {"acc": 0.4}, "eval-final": {"acc": 0.6}}
    assert summary["distill"] == {"iter1": {"kept": 5}} and summary["curation"] == {"iter1": {"kept": 7}}
    assert summary["rl"] == {"iter1/rl": [{"iteration": 1, "reward": 0.5}]}
    assert summary["cognition"] == {"pairs": 9} and summary["world"] == {"items": 100}
    empty = write_summary(tmp_path, "tiny", {}, finished_run=False)
    assert (empty["wall_s"], empty["evals"], empty["finished"]) == (0, {}, False) and "cognition" not in empty
