"""End to end: the smoke recipe through `mgrd train`, killed (SIGKILL) in the middle of a stage and resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "smoke.yaml"
# A longer cold start than the recipe's, so that the kill lands between two of its checkpoints.
OVERRIDES = ["cold_start.steps=40"]


def _cmd(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mgrd.cli.main", "train", str(RECIPE), *OVERRIDES, *extra, "--run-dir", str(run_dir)]


def _run(run_dir: Path, *extra: str) -> str:
    proc = subprocess.run(_cmd(run_dir, *extra), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def _kill_during_cold_start(run_dir: Path) -> None:
    stage = run_dir / "cold_start"
    proc = subprocess.Popen(_cmd(run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if list((stage / "train" / "checkpoints").glob("step_*/COMMIT.json")):
                break
            assert proc.poll() is None, "the pipeline ended before cold start had a checkpoint"
            time.sleep(0.02)
        else:
            pytest.fail("cold start made no checkpoint in time")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (stage / "DONE.json").exists(), "killed too late: cold start had already finished"


def test_smoke_recipe_kill_resume_report_and_rerun(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _kill_during_cold_start(run_dir)

    log = _run(run_dir)
    assert "[skip] audio_pretrain" in log and "[skip] world" in log
    assert "[resume] cold_start" in log
    metrics = [json.loads(line) for line in (run_dir / "cold_start/train/metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, 41)), "resume must continue at the checkpoint's step"

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] is True
    assert list(summary["evals"]) == ["cold_start", "final"]
    final = summary["evals"]["final"]
    assert set(final["budgets"]) == {"0", "16", "unlimited"}
    assert all(0.0 <= v <= 1.0 for v in final["budgets"].values())
    assert final["items"] == 12 and final["probes"] == 2
    assert {"text_rl", "iter1/rl"} <= set(summary["rl"]) and len(summary["rl"]["iter1/rl"]) == 2
    assert summary["distill"]["iter1"]["chains"] == 6 * 2
    assert sum(summary["curation"]["iter1"]["histogram"]) == 6
    assert summary["cognition"]["pairs"] >= 4
    names = [s["name"] for s in summary["stages"]]
    assert names.index("cold_start") < names.index("text_rl") < names.index("iter1/distill") < names.index("cognition")
    report = (run_dir / "report.md").read_text()
    assert "think" in report and "cold_start" in report
    assert (run_dir / "final" / "config.json").is_file()

    # Everything done: a rerun skips every stage; a changed DPO setting redoes only what follows it.
    log = _run(run_dir)
    assert "[run]" not in log and "[resume]" not in log
    log = _run(run_dir, "cognition.steps=2")
    ran = {line.split()[1].rstrip(":") for line in log.splitlines() if line.startswith(("[run]", "[redo]"))}
    assert ran == {"cognition", "eval/final"}

    # A fix in the curation module reruns the curation and what descends from it, nothing else.
    from mgrd.pipeline import code
    from mgrd.pipeline.pipeline import run_pipeline
    from mgrd.pipeline.recipe import load_recipe

    source = code.module_source
    monkeypatch.setattr(code, "module_source",
                        lambda name: source(name) + (b"\n# fixed\n" if name == "mgrd.training.curation" else b""))
    said: list[str] = []
    fixed = run_pipeline(load_recipe(RECIPE, [*OVERRIDES, "cognition.steps=2"]), run_dir, say=said.append,
                         progress=False)
    ran = {line.split()[1].rstrip(":") for line in said if line.startswith(("[run]", "[redo]"))}
    assert ran == {"iter1/curate", "iter1/rl", "cognition", "eval/final"}
    assert "[redo] iter1/curate: its inputs, settings or code changed" in said
    assert fixed["finished"] is True and list(fixed["evals"]) == ["cold_start", "final"]


def test_report_regenerates_from_the_run_directory_alone(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    summary = {"recipe": "x", "wall_s": 10.0, "finished": True, "stages": [{"name": "cold_start", "wall_s": 10.0}],
               "evals": {"final": {"accuracy": {"think": 0.5, "no_think": 0.25}, "budgets": {"0": 0.25,
                                                                                           "unlimited": 0.5},
                                   "items": 4, "probes": 0}}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    proc = subprocess.run([sys.executable, "-m", "mgrd.cli.main", "report", str(run_dir)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "50.0 %" in (run_dir / "report.md").read_text()
    missing = subprocess.run([sys.executable, "-m", "mgrd.cli.main", "report", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "summary.json" in missing.stderr
