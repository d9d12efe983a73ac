"""Stage bookkeeping: skip when done, redo on a changed key or code, resume after a failure, share across runs."""

import json
from dataclasses import dataclass

import pytest

from mgrd.pipeline import code as C
from mgrd.pipeline.artifacts import artifact
from mgrd.pipeline.runner import DONE, KEY, Runner, StageResult, rl_series, stage_key, write_summary


@artifact
@dataclass(frozen=True)
class Note:
    n: int


def _work(calls, info=None, name="out.txt"):
    def work(sdir):
        calls.append(sdir)
        (sdir / name).write_text(f"call {len(calls)}")
        return info if info is not None else Note(len(calls))
    return work


def _runner(run_dir, **kw):
    logs = []
    return Runner(run_dir, log=logs.append, **kw), logs


def test_a_done_stage_is_skipped_by_a_second_runner(tmp_path):
    calls = []
    first = _runner(tmp_path)[0].stage("data", {"n": 3}, [], _work(calls))
    assert not first.skipped and first.output == Note(1) and len(calls) == 1
    runner, logs = _runner(tmp_path)
    again = runner.stage("data", {"n": 3}, [], _work(calls))
    assert len(calls) == 1
    assert again.skipped and again.key == first.key and again.output == Note(1)
    assert type(again.output) is Note
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
        return Note(99)

    runner, logs = _runner(tmp_path)
    result = runner.stage("train", {"steps": 10}, [], resuming)
    assert len(calls) == 2 and result.key == key and result.output == Note(99)
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
    assert len(calls) == 1 and lent.skipped and lent.key == done.key and lent.output == done.output
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


def test_write_summary_gathers_the_typed_outputs(tmp_path):
    from mgrd.pipeline import outputs as O
    from mgrd.pipeline.artifacts import EvalResult, ModelDir, RecordFile

    model = ModelDir(str(tmp_path / "m"), "d0")
    prompts = RecordFile(str(tmp_path / "p.jsonl"), "d1", 7)
    ev_base = EvalResult.write(tmp_path / "e1.json", "base", {"acc": 0.4}, model)
    ev_final = EvalResult.write(tmp_path / "e2.json", "final", {"acc": 0.6}, model)
    world = O.DataSet("world", str(tmp_path), {}, (O.DataReport("train", 100, 60, 20, 60, 80),
                                                   O.DataReport("heldout", 10, 6, 2, 6, 8)), ("sound",), False)
    distill = O.DistillReport(10, 5, (O.FilterCount("correctness", 10, 5, {"wrong answer": 5}),),
                              {"facts": 8, "lexicon": 2})
    results = {r.name: r for r in [
        StageResult("world", "k0", world, 1.0, True),
        StageResult("eval/base", "k1", ev_base, 2.0, False),
        StageResult("eval/final", "k2", ev_final, 3.0, False),
        StageResult("iter1/distill", "k3", O.Distilled(None, distill), 4.0, False),
        StageResult("iter1/curate", "k4", O.Curated(prompts, O.CurationReport(9, 7, 4, (1, 1, 7, 0, 0), "range",
                                                                             1, 3, False)), 5.0, False),
        StageResult("iter1/rl", "k5", O.RLTrained(model, 1, (O.RLPoint(1, 0.5),)), 6.0, False),
        StageResult("cognition", "k6", O.CognitionTrained(model, O.CognitionReport(8, 3, 9)), 7.0, False),
        StageResult("cold_start", "k7", O.Trained(model, 8, 0.25), 0.5, False)]}
    summary = write_summary(tmp_path, "tiny", results, finished_run=True)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["recipe"] == "tiny" and summary["run_dir"] == str(tmp_path) and summary["finished"] is True
    assert summary["wall_s"] == pytest.approx(28.5)
    assert summary["stages"][0] == {"name": "world", "wall_s": 1.0} and len(summary["stages"]) == 8
    assert summary["evals"] == {"base": {"acc": 0.4}, "final": {"acc": 0.6}}
    assert summary["distill"] == {"iter1": {"chains": 10, "kept": 5, "keep_rate": 0.5, "judge": None,
                                            "grounding": {"facts": 8, "lexicon": 2},
                                            "filters": [{"name": "correctness", "seen": 10, "kept": 5,
                                                         "dropped": {"wrong answer": 5}}]}}
    assert summary["curation"] == {"iter1": {"questions": 9, "kept": 7, "k": 4, "histogram": [1, 1, 7, 0, 0],
                                             "strategy": "range", "low": 1, "high": 3, "fallback_unfiltered": False}}
    assert summary["rl"] == {"iter1/rl": [{"iteration": 1, "reward": 0.5, "accuracy": None,
                                           "reasoning_tokens": None}]}
    assert summary["cognition"] == {"responses": 8, "denials": 3, "pairs": 9}
    assert summary["world"] == {"train": 100, "heldout": 10, "families": ["sound"], "speech": False}
    assert summary["data"]["source"] == "world" and summary["data"]["splits"]["train"]["with_facts"] == 60
    empty = write_summary(tmp_path, "tiny", {}, finished_run=False)
    assert (empty["wall_s"], empty["evals"], empty["finished"]) == (0, {}, False) and "cognition" not in empty


def test_a_skipped_stage_gives_back_its_typed_artifacts_and_a_changed_model_dir_is_redone(tmp_path):
    from mgrd.pipeline.artifacts import ModelDir
    from mgrd.pipeline.outputs import Trained

    def train(sdir):
        (sdir / "model").mkdir()
        (sdir / "model" / "config.json").write_text('{"a": 1}')
        (sdir / "model" / "model.safetensors").write_bytes(b"weights")
        return Trained(ModelDir.of(sdir / "model"), 3, 0.5)

    first = _runner(tmp_path)[0].stage("sft", {}, [], train)
    runner, logs = _runner(tmp_path)
    again = runner.stage("sft", {}, [], train)
    assert again.skipped and again.output == first.output and type(again.output.model) is ModelDir
    assert again.output.model.path == str(tmp_path / "sft" / "model")
    (tmp_path / "sft" / "model" / "model.safetensors").write_bytes(b"other weights")
    runner, logs = _runner(tmp_path)
    redone = runner.stage("sft", {}, [], train)
    assert not redone.skipped and logs[0] == "[redo] sft: a file it wrote changed on disk"
    assert redone.output.model.digest == first.output.model.digest      # rewritten as it was


def test_the_key_covers_the_code_and_a_changed_module_reruns_its_stages_and_their_descendants(tmp_path, monkeypatch):
    # a (sft) -> b (dpo) -> c (curation); a -> d (curation): a change in dpo's source reruns b and c only
    calls = {n: [] for n in "abcd"}
    code = {"a": ("mgrd.training.sft",), "b": ("mgrd.training.dpo",), "c": ("mgrd.training.curation",),
            "d": ("mgrd.training.curation",)}
    assert "mgrd.training.dpo" not in set(C.closure(code["a"])) | set(C.closure(code["c"]))

    def run():
        runner, logs = _runner(tmp_path)
        a = runner.stage("a", {}, [], _work(calls["a"]), code=code["a"])
        b = runner.stage("b", {}, [a], _work(calls["b"]), code=code["b"])
        runner.stage("c", {}, [b], _work(calls["c"]), code=code["c"])
        runner.stage("d", {}, [a], _work(calls["d"]), code=code["d"])
        return {line.split()[1].rstrip(":") for line in logs if line.startswith(("[run]", "[redo]"))}

    assert run() == {"a", "b", "c", "d"}
    assert run() == set()
    original = C.module_source
    monkeypatch.setattr(C, "module_source",
                        lambda name: original(name) + (b"\n# fixed\n" if name == "mgrd.training.dpo" else b""))
    assert run() == {"b", "c"}
    assert [len(v) for v in calls.values()] == [1, 2, 2, 1]
    assert run() == set()
    # a module the closure reaches from the root (dpo imports training.data) counts as well
    assert "mgrd.training.data" in C.closure(code["b"])
    monkeypatch.setattr(C, "module_source",
                        lambda name: original(name) + (b"\n# fixed\n" if name in ("mgrd.training.dpo",
                                                                                  "mgrd.training.data") else b""))
    assert run() == {"a", "b", "c", "d"}                   # sft reads training.data too


def test_stage_key_changes_with_the_code_digest_and_the_package_version(monkeypatch):
    import mgrd

    plain = stage_key("s", {"n": 1}, ["u"])
    assert stage_key("s", {"n": 1}, ["u"], code="abc") != plain
    digest = C.code_digest(["mgrd.training.curation"])
    assert C.code_digest(["mgrd.training.curation"]) == digest
    monkeypatch.setattr(mgrd, "__version__", "9.9.9")
    assert C.code_digest(["mgrd.training.curation"]) != digest
    with pytest.raises(ModuleNotFoundError, match="mgrd.training.nothing"):
        C.code_digest(["mgrd.training.nothing"])


def test_the_closure_follows_function_imports_of_trainers_but_only_module_imports_of_pipeline_modules():
    stages = set(C.closure(["mgrd.pipeline.stages"]))
    # stages.py imports every trainer inside its stage functions; those are not followed
    assert not {"mgrd.training.sft", "mgrd.training.ppo", "mgrd.training.dpo"} & stages
    assert {"mgrd.pipeline.data", "mgrd.pipeline.runner", "mgrd.training.config"} <= stages
    # a trainer's function-level imports are followed (sample_chains imports mgrd.inference inside)
    distill = set(C.closure(["mgrd.training.distill"]))
    assert "mgrd.inference" in distill and "mgrd.training" in distill          # its package, hashed
    # `from mgrd.training import x` follows x, not the package's re-exports of every trainer
    assert "mgrd.training.ppo" not in distill


def test_a_shared_run_made_with_other_code_lends_nothing(tmp_path, monkeypatch):
    calls = []
    other = tmp_path / "other"
    _runner(other)[0].stage("sft", {"n": 3}, [], _work(calls), code=("mgrd.training.sft",))
    original = C.module_source
    monkeypatch.setattr(C, "module_source",
                        lambda name: original(name) + (b"\n# fixed\n" if name == "mgrd.training.sft" else b""))
    runner, logs = _runner(tmp_path / "mine", shared=[other])
    runner.stage("sft", {"n": 3}, [], _work(calls), code=("mgrd.training.sft",))
    assert len(calls) == 2 and logs[0] == "[run] sft"
