"""`mgrd eval TASKS ...` (= `mgrd eval run`) against the fake endpoint, `mgrd eval report DIR`, and errors."""

import json

from conftest import make_mmau, make_mmsu, scripted
from typer.testing import CliRunner

from mgrd.cli.main import app

runner = CliRunner()


def test_eval_endpoint_then_report(fake, tmp_path):
    server = fake(scripted)
    make_mmau(tmp_path / "data" / "MMAU")
    make_mmsu(tmp_path / "data" / "MMSU")
    out = tmp_path / "run"
    args = ["eval", "mmau,mmsu", "--data-root", str(tmp_path / "data"), "--endpoint", server.url,
            "--served-model", "fake", "--budgets", "0,unlimited", "--out", str(out), "--concurrency", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores["tasks"]) == {"mmau", "mmsu"} and set(scores["tasks"]["mmsu"]["budgets"]) == {"0", "unlimited"}
    # MMSU: "B" right under both rules; "The answer is A." right under both (letter A -> yes)
    assert scores["tasks"]["mmsu"]["budgets"]["unlimited"]["official"]["mean"] == 1.0
    assert "10 requested, 0 from the cache" in result.output
    again = runner.invoke(app, ["eval", "run", *args[1:]])
    assert again.exit_code == 0 and "0 requested, 10 from the cache" in again.output
    report = runner.invoke(app, ["eval", "report", str(out)])
    assert report.exit_code == 0, report.output
    assert (out / "report.md").is_file() and "mmsu" in report.output


def test_eval_errors_exit_2(tmp_path):
    cases = [
        (["eval", "mmau", "--data", str(tmp_path), "--endpoint", "http://127.0.0.1:9/v1"], "mmau-test-mini.json"),
        (["eval", "nope", "--data", str(tmp_path), "--endpoint", "http://127.0.0.1:9/v1"], "unknown task"),
        (["eval", "mmau", "--data", str(tmp_path)], "exactly one of --model"),
        (["eval", "mmau,mmar", "--data", str(tmp_path), "--endpoint", "http://x/v1"], "TASK=DIR"),
        (["eval", "mmau", "--data", str(tmp_path), "--endpoint", "http://x/v1", "--budgets", "lots"], "thinking budget"),
        (["eval", "report", str(tmp_path)], "not an evaluation run directory"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
