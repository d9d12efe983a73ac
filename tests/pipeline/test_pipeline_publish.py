"""Publishing RUN/final: never a partial copy, leftovers of a killed publish removed (issue 15, finding 11)."""

from mgrd.pipeline.pipeline import publish_dir


def _tree(path):
    return {p.relative_to(path).as_posix(): p.read_text() for p in sorted(path.rglob("*")) if p.is_file()}


def test_publish_replaces_and_cleans_up_after_a_killed_publish(tmp_path):
    new = tmp_path / "stage" / "model"
    new.mkdir(parents=True)
    (new / "config.json").write_text("new")
    (new / "model.safetensors").write_text("weights")
    out = tmp_path / "run" / "final"
    out.mkdir(parents=True)
    (out / "config.json").write_text("old")
    (out / "stale.bin").write_text("from an older model")
    # What a kill during an earlier publish leaves: a partial copy and a renamed-away old one.
    (tmp_path / "run" / "final.tmp").mkdir()
    (tmp_path / "run" / "final.tmp" / "config.json").write_text("partial")
    (tmp_path / "run" / "final.old").mkdir()
    publish_dir(new, out)
    assert _tree(out) == {"config.json": "new", "model.safetensors": "weights"}
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["final"]


def test_publish_when_a_kill_left_no_final(tmp_path):
    new = tmp_path / "model"
    new.mkdir()
    (new / "config.json").write_text("new")
    (tmp_path / "final.old").mkdir()   # killed between the two renames
    publish_dir(new, tmp_path / "final")
    assert _tree(tmp_path / "final") == {"config.json": "new"}
    assert not (tmp_path / "final.old").exists()
