"""Benchmarks as local Hugging Face hub snapshots: fixtures written with `datasets` itself in each published
schema (parquet shards and save_to_disk folders) load to the same items, audio and answers as the official files."""

import json
from pathlib import Path

import pytest
from conftest import make_bba, make_mmar, make_mmau, make_mmsu, make_spoken_mqa, make_wildspeech, scripted
from typer.testing import CliRunner

from mgrd.tasks.benchmarks import LayoutError
from mgrd.tasks.benchmarks.hub import SCHEMAS, read_snapshot
from mgrd.tasks.registry import load_task

datasets = pytest.importorskip("datasets", reason="the `hub` extra (datasets) is not installed")

LAYOUTS = ("parquet", "save_to_disk")


@pytest.fixture(autouse=True)
def audio_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MGRD_CACHE", str(tmp_path / "cache"))


def audio(path):
    path = Path(path)
    return {"bytes": path.read_bytes(), "path": path.name}


def write(root, splits, layout):
    """`splits` {name: rows} written as the hub does: parquet shards under data/, or save_to_disk."""
    parts = {}
    for name, rows in splits.items():
        ds = datasets.Dataset.from_list(rows)
        for column in ("audio", "context"):
            if column in ds.column_names and isinstance(rows[0][column], dict):
                ds = ds.cast_column(column, datasets.Audio(decode=False))
        parts[name] = ds
    if layout == "parquet":
        for name, ds in parts.items():
            (root / "data").mkdir(parents=True, exist_ok=True)
            ds.to_parquet(str(root / "data" / f"{name}-00000-of-00001.parquet"))
    else:
        datasets.DatasetDict(parts).save_to_disk(str(root))
    return root


def json_rows(path):
    text = Path(path).read_text()
    return json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines()]


def same_items(hub_task, official_task, *, ids=True):
    hub, official = hub_task.items(), official_task.items()
    assert len(hub) == len(official) > 0
    for h, o in zip(hub, official):
        if ids:
            assert h.id == o.id
        assert (h.question, h.answer, h.choices, h.category, dict(h.meta)) == \
               (o.question, o.answer, o.choices, o.category, dict(o.meta))
        assert [Path(a).read_bytes() for a in h.audio] == [Path(a).read_bytes() for a in o.audio]
        assert all(Path(a).parent.name == "hub-audio" for a in h.audio)   # written to the audio cache
    assert hub_task.version == official_task.version
    assert official_task.layout == "release files" and hub_task.layout != "release files"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mmau_lmms_lab_schema(tmp_path, layout):
    """lmms-lab/mmau: the official fields, choices as a JSON string, the audio as a column, split test_mini."""
    official = make_mmau(tmp_path / "json")
    rows = [{**{k: v for k, v in r.items() if k != "audio_id"}, "audio_id": r["audio_id"],
             "choices": json.dumps(r["choices"]),
             "category": r["category"][0] if isinstance(r["category"], list) else r["category"],
             "audio": audio(official / r["audio_id"])} for r in json_rows(official / "mmau-test-mini.json")]
    hub = write(tmp_path / "hub", {"test_mini": rows, "test": rows[:1]}, layout)
    task = load_task("mmau", hub)
    same_items(task, load_task("mmau", official))
    kind = "Hugging Face parquet snapshot" if layout == "parquet" else "datasets save_to_disk folder"
    assert task.layout == f"{kind} (test_mini 3 rows)"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mmau_audiobench_schema(tmp_path, layout):
    """AudioLLMs/MMAU-mini: context (audio), instruction, choices, answer, other_attributes."""
    official = make_mmau(tmp_path / "json")
    rows = [{"context": audio(official / r["audio_id"]), "instruction": r["question"], "choices": r["choices"],
             "answer": r["answer"],
             "other_attributes": {"id": r["id"], "task": r["task"], "difficulty": r["difficulty"],
                                  "category": r["category"][0] if isinstance(r["category"], list) else r["category"],
                                  "sub-category": r["sub-category"], "dataset": r["dataset"], "split": r["split"]}}
            for r in json_rows(official / "mmau-test-mini.json")]
    same_items(load_task("mmau", write(tmp_path / "hub", {"test": rows}, layout)), load_task("mmau", official))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mmar_schema(tmp_path, layout):
    official = make_mmar(tmp_path / "json")
    rows = [{**{k: v for k, v in r.items() if k != "audio_path"}, "audio": audio(official / r["audio_path"])}
            for r in json_rows(official / "MMAR-meta.json")]
    same_items(load_task("mmar", write(tmp_path / "hub", {"test": rows}, layout)), load_task("mmar", official))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mmsu_schema(tmp_path, layout):
    official = make_mmsu(tmp_path / "json")
    rows = [{**{k: v for k, v in r.items() if k != "audio_path"}, "audio": audio(official / r["audio_path"])}
            for r in json_rows(official / "question" / "mmsu.jsonl")]
    task = load_task("mmsu", write(tmp_path / "hub", {"train": rows}, layout))
    same_items(task, load_task("mmsu", official))
    assert task.items()[1].choices == ("yes", "no")   # None choices C and D dropped, as from the JSON


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bigbench_audio_schema(tmp_path, layout):
    """ArtificialAnalysis/big_bench_audio: audio, category, official_answer, id (no file_name column)."""
    official = make_bba(tmp_path / "json")
    lines = (official / "metadata.csv").read_text().splitlines()[1:]
    rows = [{"audio": audio(official / f), "category": c, "official_answer": a, "id": i}
            for f, c, a, i in (line.split(",") for line in lines)]
    task = load_task("bigbench_audio", write(tmp_path / "hub", {"train": rows}, layout))
    same_items(task, load_task("bigbench_audio", official))
    assert task.items()[0].audio[0].endswith(".mp3")   # the container sniffed from the bytes


@pytest.mark.parametrize("layout", LAYOUTS)
def test_spoken_mqa_schema(tmp_path, layout):
    """amao0o0/spoken-mqa: one split per task type; context (audio), context_transcript, instruction.text,
    answer.text; no id column, so items are numbered within their split."""
    official = make_spoken_mqa(tmp_path / "json")
    splits = {}
    for split in ("short_digit", "multi_step_reasoning"):
        (row,) = json_rows(official / f"{split}.jsonl")
        rel = row["context"]["path"] if isinstance(row["context"], dict) else row["context"]
        splits[split] = [{"context": audio(official / rel), "context_transcript": row["context_transcript"],
                          "instruction": row["instruction"], "answer": row["answer"]}]
    task = load_task("spoken_mqa", write(tmp_path / "hub", splits, layout))
    same_items(task, load_task("spoken_mqa", official), ids=False)
    assert [i.id for i in task.items()] == ["short_digit-0", "multi_step_reasoning-0"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_wildspeech_schema(tmp_path, layout):
    pytest.importorskip("langdetect", reason="the `langdetect` extra is not installed")
    official = make_wildspeech(tmp_path / "json")
    rows = [{**r, "audio": audio(official / r["audio"])} for r in json_rows(official / "metadata.jsonl")]
    same_items(load_task("wildspeech", write(tmp_path / "hub", {"train": rows}, layout)),
               load_task("wildspeech", official))


def test_config_folders_name_the_split(tmp_path):
    """`<config>/<split>-00000-of-00001.parquet` (and refs/convert's `<config>/<split>/0000.parquet`)."""
    official = make_spoken_mqa(tmp_path / "json")
    (row,) = json_rows(official / "short_digit.jsonl")
    ds = datasets.Dataset.from_list([{"context": audio(official / row["context"]), "answer": row["answer"]}])
    ds = ds.cast_column("context", datasets.Audio(decode=False))
    (tmp_path / "hub" / "short_digit").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "hub" / "short_digit" / "test-00000-of-00001.parquet"))
    (tmp_path / "hub" / "long_digit" / "test").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "hub" / "long_digit" / "test" / "0000.parquet"))
    task = load_task("spoken_mqa", tmp_path / "hub")
    assert [(i.id, i.answer) for i in task.items()] == [("short_digit-0", "7"), ("long_digit-0", "7")]


def test_official_files_win_and_snapshot_errors_say_what_was_found(tmp_path):
    official = make_mmau(tmp_path / "both")
    rows = [{"id": "x", "question": "q", "choices": ["a", "b"], "answer": "a", "audio": audio(next(official.rglob("*.wav")))}]
    write(official, {"test_mini": rows}, "parquet")
    assert load_task("mmau", official).layout == "release files"
    assert read_snapshot(official, SCHEMAS["mmau"]) is None

    write(tmp_path / "splits", {"dev": rows, "val": rows}, "parquet")
    with pytest.raises(LayoutError, match="has the splits dev, val; expected one of test_mini"):
        load_task("mmau", tmp_path / "splits")

    no_audio = [{k: v for k, v in rows[0].items() if k != "audio"}]
    write(tmp_path / "silent", {"test": no_audio}, "parquet")
    with pytest.raises(LayoutError, match=r"no audio column; expected one of audio, context .*columns found: "
                                          r"answer, choices, id, question"):
        load_task("mmau", tmp_path / "silent")

    missing = [{**rows[0], "answer": None}]
    del missing[0]["answer"]
    write(tmp_path / "fields", {"test": missing}, "parquet")
    with pytest.raises(LayoutError, match="item 0 has no field answer"):
        load_task("mmau", tmp_path / "fields")


def test_audio_is_written_once_per_content(tmp_path):
    pytest.importorskip("langdetect", reason="the `langdetect` extra is not installed")
    official = make_wildspeech(tmp_path / "json")
    rows = [{**r, "audio": audio(official / r["audio"])} for r in json_rows(official / "metadata.jsonl")]
    hub = write(tmp_path / "hub", {"train": rows + [{**rows[0], "conversation_hash": "h2"}]}, "parquet")
    first = load_task("wildspeech", hub).items()
    assert first[0].audio == first[1].audio                       # same bytes, one file
    assert len(list((tmp_path / "cache" / "hub-audio").iterdir())) == 1
    assert load_task("wildspeech", hub).items()[0].audio == first[0].audio


def test_missing_extra_names_it(tmp_path, monkeypatch):
    pytest.importorskip("langdetect", reason="the `langdetect` extra is not installed")
    official = make_wildspeech(tmp_path / "json")
    rows = [{**r, "audio": audio(official / r["audio"])} for r in json_rows(official / "metadata.jsonl")]
    hub = write(tmp_path / "hub", {"train": rows}, "parquet")
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)
    with pytest.raises(ModuleNotFoundError, match=r"needs the `hub` extra: pip install 'mgrd\[hub\]'"):
        load_task("wildspeech", hub)


def test_eval_cli_says_which_layout_it_found(fake, tmp_path):
    from mgrd.cli.main import app

    official = make_mmsu(tmp_path / "json")
    rows = [{**{k: v for k, v in r.items() if k != "audio_path"}, "audio": audio(official / r["audio_path"])}
            for r in json_rows(official / "question" / "mmsu.jsonl")]
    hub = write(tmp_path / "MMSU", {"test": rows}, "save_to_disk")
    server = fake(scripted)
    result = CliRunner().invoke(app, ["eval", "mmsu", "--data", str(hub), "--endpoint", server.url,
                                      "--served-model", "fake", "--out", str(tmp_path / "run")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"mmsu: 2 items from datasets save_to_disk folder (test 2 rows) in {hub}" in result.output
    assert "eval mmsu  2/2 (100%) requests" in result.output
