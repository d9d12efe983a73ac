"""API keys go only to the endpoint they were named for (issue 15, finding 3), checked with a recorder."""

import pytest
from conftest import make_bba, scripted
from typer.testing import CliRunner

from mgrd.cli.main import app
from mgrd.evaluation.fake_endpoint import FakeReply
from mgrd.remote.credentials import api_key

runner = CliRunner()


def _run(fake, tmp_path, *extra, env):
    model, judge = fake(scripted), fake(lambda b, n: FakeReply(content="[[A]] yes"))
    make_bba(tmp_path / "bba")
    args = ["eval", "bigbench_audio", "--data", str(tmp_path / "bba"), "--endpoint", model.url,
            "--served-model", "fake", "--judge", judge.url, "--out", str(tmp_path / "run"), "--retries", "1", *extra]
    result = runner.invoke(app, args, env=env)
    return result, model, judge


def test_openai_api_key_is_never_sent(fake, tmp_path):
    result, model, judge = _run(fake, tmp_path, env={"OPENAI_API_KEY": "sk-test-secret",
                                                      "JUDGE_API_KEY": "sk-judge-secret"})
    assert model.authorizations and judge.authorizations, result.output
    assert set(model.authorizations) == {None} and set(judge.authorizations) == {None}


def test_keys_named_for_each_endpoint_go_to_that_endpoint_only(fake, tmp_path):
    result, model, judge = _run(fake, tmp_path, env={"MGRD_ENDPOINT_API_KEY": "sk-model",
                                                      "MGRD_JUDGE_API_KEY": "sk-judge", "OPENAI_API_KEY": "sk-x"})
    assert set(model.authorizations) == {"Bearer sk-model"}, result.output
    assert set(judge.authorizations) == {"Bearer sk-judge"}


def test_an_explicitly_named_variable(fake, tmp_path):
    result, model, judge = _run(fake, tmp_path, "--api-key-env", "MY_KEY", env={"MY_KEY": "sk-mine",
                                                                                 "MGRD_ENDPOINT_API_KEY": "sk-no"})
    assert set(model.authorizations) == {"Bearer sk-mine"} and set(judge.authorizations) == {None}, result.output


def test_a_named_variable_that_is_not_set_exits_2(fake, tmp_path):
    result, model, _ = _run(fake, tmp_path, "--judge-api-key-env", "NOPE", env={})
    assert result.exit_code == 2 and "'NOPE' is not set" in result.output
    assert model.authorizations == []


def test_api_key_lookup():
    assert api_key("endpoint", environ={"OPENAI_API_KEY": "k"}) is None
    assert api_key("judge", environ={"MGRD_JUDGE_API_KEY": "j", "MGRD_ENDPOINT_API_KEY": "e"}) == "j"
    assert api_key("endpoint", "OPENAI_API_KEY", environ={"OPENAI_API_KEY": "k"}) == "k"
    with pytest.raises(ValueError, match="unknown endpoint role"):
        api_key("other", environ={})
