"""The command line end to end: init-tiny, info, chat (plain, streamed, budgets) and its errors."""

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from mgrd.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "random-tiny"
    result = runner.invoke(app, ["init-tiny", str(out), "--seed", "1"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "tone.flac"
    t = np.arange(44100) / 44100
    sf.write(path, np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1) * 0.3, 44100)
    return path


def test_init_tiny_writes_official_layout(tiny):
    names = {p.name for p in tiny.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    again = runner.invoke(app, ["init-tiny", str(tiny)])
    assert again.exit_code == 2 and "--force" in again.output


def test_info_reports_parts_and_tokens(tiny):
    result = runner.invoke(app, ["info", "--model", str(tiny)])
    assert result.exit_code == 0, result.output
    for needle in ("hidden 256", "parameters: encoder", "<audio_patch>", "eot"):
        assert needle in result.output


@pytest.mark.parametrize("extra", [[], ["--stream"], ["--thinking-budget", "3"], ["--no-think"]])
def test_chat_prints_reasoning_and_answer(tiny, clip, extra):
    result = runner.invoke(app, ["chat", "--model", str(tiny), "--audio", str(clip), "--max-tokens", "12",
                                 "--temperature", "0", "Which tone is higher?", *extra])
    assert result.exit_code == 0, result.output
    assert "answer" in result.output
    if "--no-think" in extra:
        assert "(no reasoning)" in result.output and "── reasoning ──" not in result.output


def test_empty_reasoning_is_said(capsys):
    from types import SimpleNamespace as Event

    from mgrd.cli import chat

    chat._print_result("\n", "42")
    assert capsys.readouterr().out == "(no reasoning)\n── answer ──\n42\n"
    chat._print_result("pitch 440 Hz", "A")
    assert capsys.readouterr().out == "── reasoning ──\npitch 440 Hz\n── answer ──\nA\n"
    events = [Event(reasoning="\n", answer=""), Event(reasoning="", answer="4"), Event(reasoning="", answer="2")]
    assert chat._print_stream(events) == "42"
    assert capsys.readouterr().out == "(no reasoning)\n── answer ──\n42\n"
    events = [Event(reasoning="\n", answer=""), Event(reasoning="two beeps", answer=""), Event(reasoning="", answer="2")]
    assert chat._print_stream(events) == "2"
    assert capsys.readouterr().out == "── reasoning ──\ntwo beeps\n── answer ──\n2\n"


@pytest.mark.parametrize("args,message", [
    (["chat", "--model", "does/not/exist", "hi"], "no config.json"),
    (["chat", "--model", "{tiny}", "--audio", "missing.wav", "hi"], "does not exist"),
    (["chat", "--model", "{tiny}", "--no-think", "--thinking-budget", "5", "hi"], "contradict"),
    (["chat", "--model", "{tiny}", "--temperature", "-1", "hi"], "temperature"),
    (["info", "--model", "does/not/exist"], "no config.json"),
])
def test_bad_input_is_a_clear_error(tiny, args, message):
    args = [a.replace("{tiny}", str(tiny)) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_chat_rejects_non_audio_file(tiny, tmp_path):
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is not audio")
    result = runner.invoke(app, ["chat", "--model", str(tiny), "--audio", str(bogus), "hi"])
    assert result.exit_code == 2 and "error" in result.output
