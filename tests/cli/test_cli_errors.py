"""User-facing errors are one line with exit status 2 (issue 15, finding 10)."""

import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mgrd.cli.errors import OPTIONAL_MODULES, missing_module_message, user_errors
from mgrd.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    result = runner.invoke(app, ["init-tiny", str(out), "--vocab-size", "400"])
    assert result.exit_code == 0, result.output
    return out


def _broken(tiny, tmp_path, how):
    bad = tmp_path / how
    shutil.copytree(tiny, bad)
    weights = bad / "model.safetensors"
    data = weights.read_bytes()
    if how == "garbage":
        weights.write_bytes(b"\x07" * 64)
    elif how == "truncated":
        weights.write_bytes(data[:len(data) // 2])
    else:   # pickles only
        weights.unlink()
        (bad / "pytorch_model.bin").write_bytes(b"not loaded")
    return bad


def _one_line_exit_2(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("how", ["garbage", "truncated"])
@pytest.mark.parametrize("command", [["info", "--model"], ["chat", "hello", "--model"], ["serve", "--model"]])
def test_corrupt_safetensors(tiny, tmp_path, how, command):
    bad = _broken(tiny, tmp_path, how)
    _one_line_exit_2(runner.invoke(app, [*command, str(bad)]), "model.safetensors", "corrupt or truncated")


def test_info_on_a_pickles_only_folder(tiny, tmp_path):
    bad = _broken(tiny, tmp_path, "pickles")
    _one_line_exit_2(runner.invoke(app, ["info", "--model", str(bad)]), "pytorch_model.bin", "never loaded")


def test_serve_without_the_serve_extra(tiny, monkeypatch):
    for name in [m for m in sys.modules if m == "mgrd.serving" or m.startswith("mgrd.serving.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)   # import fastapi now fails as if not installed
    _one_line_exit_2(runner.invoke(app, ["serve", "--model", str(tiny)]), "'fastapi'", 'pip install -e ".[serve]"')


@pytest.mark.parametrize("module, extra", sorted(OPTIONAL_MODULES.items()))
def test_every_optional_dependency_names_its_extra(module, extra, capsys):
    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extra in extras
    with pytest.raises(Exception) as raised:
        with user_errors():
            raise ModuleNotFoundError(f"No module named '{module}'", name=f"{module}.sub")
    assert getattr(raised.value, "exit_code", None) == 2
    assert f'pip install -e ".[{extra}]"' in " ".join(capsys.readouterr().err.split())
    assert missing_module_message(ModuleNotFoundError(name="somethingelse")).endswith("pip install -e .")
