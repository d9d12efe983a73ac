"""`mgrd world generate | show | stats` end to end on a small split, and clear errors with exit status 2."""

from __future__ import annotations

from typer.testing import CliRunner

from mgrd.cli.main import app

runner = CliRunner()


def test_generate_show_stats(tmp_path):
    out = tmp_path / "w"
    args = ["world", "generate", "--out", str(out), "--split", "heldout", "--n", "12", "--families",
            "sound,music,text", "--seed", "2", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "heldout: 12 records" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already complete" in again.output

    shown = runner.invoke(app, ["world", "show", str(out), "--n", "2", "--audio-out", str(tmp_path / "play")])
    assert shown.exit_code == 0, shown.output
    for word in ("Q:", "A:", "facts:", "grounded:", "surrogate:", "empty:"):
        assert word in shown.output
    assert list((tmp_path / "play").glob("*.wav"))

    stats = runner.invoke(app, ["world", "stats", str(out)])
    assert stats.exit_code == 0, stats.output
    assert "12 records" in stats.output and "question types:" in stats.output and "sound" in stats.output


def test_bad_arguments_exit_2_with_a_message(tmp_path):
    cases = [
        (["--n", "0"], "n must be a positive number"),
        (["--families", "sound,jazz"], "unknown families ['jazz']"),
        (["--split", "val"], "unknown split 'val'"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["world", "generate", "--out", str(tmp_path / "w"), *extra])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    empty = runner.invoke(app, ["world", "stats", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "no complete split" in empty.output
