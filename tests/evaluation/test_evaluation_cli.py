"""`mgrd eval TASKS ...` (= `mgrd eval run`) against the fake endpoint, `mgrd eval report DIR`, and errors."""

import json

from conftest import make_bba, make_mmau, make_mmsu, question_of, scripted
from typer.testing import CliRunner

from mgrd.cli.main import app
from mgrd.evaluation.fake_endpoint import FakeReply

runner = CliRunner()
WIDE = {"COLUMNS": "200"}   # table cells unwrapped, so the output reads as one line per row


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


def _mmau_args(tmp_path, url):
    make_mmau(tmp_path / "MMAU")
    return ["eval", "mmau", "--data", str(tmp_path / "MMAU"), "--endpoint", url, "--served-model", "fake",
            "--out", str(tmp_path / "run"), "--retries", "2"]


def test_eval_every_request_failing_says_so_and_exits_nonzero(fake, tmp_path):
    server = fake(lambda body, n: FakeReply(status=400))
    result = runner.invoke(app, _mmau_args(tmp_path, server.url), env=WIDE)
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "all 3 requests failed after retries; first error: HTTP 400: fake error 400" in text
    assert "official" not in text                                  # no table of dashes
    assert len(server.bodies) == 3                                 # a 400 is never retried


def test_eval_some_requests_failing_exits_nonzero_with_the_count(fake, tmp_path):
    server = fake(lambda body, n: FakeReply(status=503) if "tempo" in question_of(body) else scripted(body, n))
    result = runner.invoke(app, _mmau_args(tmp_path, server.url), env=WIDE)
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "1 of 3 requests failed after retries; first error: gave up after 2 tries: HTTP 503" in text
    assert "(n=2; 1 failed)" in text                               # the score says what it leaves out
    assert len(server.bodies) == 4                                 # the 503 was tried twice
    server.handler = scripted                                      # healthy again: the rerun asks only m2
    again = runner.invoke(app, _mmau_args(tmp_path, server.url), env=WIDE)
    assert again.exit_code == 0, again.output
    assert "1 requested, 2 from the cache" in again.output
    assert "(n=3)" in " ".join(again.output.split())


def test_eval_unscored_judged_task_shows_the_count_beside_the_score(fake, tmp_path):
    make_bba(tmp_path / "bba")
    server = fake(lambda b, n: FakeReply("x\n</think>\n7"))
    result = runner.invoke(app, ["eval", "bigbench_audio", "--data", str(tmp_path / "bba"), "--endpoint", server.url,
                                 "--out", str(tmp_path / "run")], env=WIDE)
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "– (n=0; 4 unscored: judge not configured)" in text     # official needs the judge
    assert "25.0 [" in text and "(n=4)" in text                    # robust: 1 of 4 right (object_counting)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "4 unscored: judge not configured" in report
