"""Benchmarks as downloaded from the Hugging Face hub: a local snapshot's parquet files (audio stored
as bytes) or a `datasets.save_to_disk` folder, read from disk only and mapped to the official layout.

`read_snapshot(root, SCHEMAS["mmau"])` returns the rows under the field names of the official
files (so each loader builds its items exactly as from its JSON), with the audio bytes written
once to a content-addressed cache folder and the audio field naming the file there. Nothing is
downloaded: only the files under `root` are read. Needs the `hub` extra (`datasets`, which brings
`pyarrow`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mgrd.audio.container import sniff_container
from mgrd.audio.errors import AudioError
from mgrd.io import atomic_path
from mgrd.tasks.benchmarks.layout import LayoutError

_SHARD = re.compile(r"^(?P<split>.+?)-\d{5}-of-\d{5}$")
_BATCH = 64


@dataclass(frozen=True)
class HubSchema:
    """How one benchmark's hub uploads map onto its official files.

    `official`: the official metadata files (when one exists, the official layout is read instead);
    `audio`: the official field that names the audio file, filled from the first of `audio_columns`
    that holds audio; `renames`: official field -> hub columns tried in order when the field itself
    is absent; `splits`: the split (or config) names to read, preferred first; `all_splits`: read
    every one of `splits` found (Spoken-MQA), not just the first.
    """

    benchmark: str
    official: tuple[str, ...]
    audio: str
    audio_columns: tuple[str, ...] = ("audio", "context")
    renames: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    splits: tuple[str, ...] = ("test", "train")
    all_splits: bool = False


SCHEMAS: dict[str, HubSchema] = {
    # gamma-lab-umd/MMAU-test-mini ships the official JSON; lmms-lab/mmau (parquet: id, audio_id, question,
    # choices as a JSON string, answer, task, category, ..., audio), AudioLLMs/MMAU-mini (AudioBench: context,
    # instruction, choices, answer, other_attributes) and TwinkStart/MMAU (split v05.15.25) are re-uploads.
    "mmau": HubSchema("MMAU", ("mmau-test-mini.json", "mmau-test-mini-original.json"), "audio_id",
                      renames={"id": ("question_id",), "question": ("instruction",)},
                      splits=("test_mini", "test-mini", "testmini", "v05.15.25", "test", "train")),
    # BoJack/MMAR: the MMAR-meta fields with the audio as a column.
    "mmar": HubSchema("MMAR", ("MMAR-meta.json", "MMAR-meta.jsonl"), "audio_path"),
    # ddwang2000/MMSU: the mmsu.jsonl fields with the audio as a column.
    "mmsu": HubSchema("MMSU", ("question/mmsu.jsonl", "mmsu.jsonl", "MMSU/question/mmsu.jsonl"), "audio_path"),
    # ArtificialAnalysis/big_bench_audio: audio, category, official_answer, id (split train).
    "bigbench_audio": HubSchema("Big Bench Audio", ("metadata.csv", "metadata.jsonl", "metadata.json",
                                                    "data/metadata.csv", "data/metadata.jsonl", "data/metadata.json"),
                                "file_name", splits=("train", "test")),
    # amao0o0/spoken-mqa: context (audio), context_transcript, instruction.text, answer.text; one split each.
    "spoken_mqa": HubSchema("Spoken-MQA", (), "context", audio_columns=("context", "audio"),
                            splits=("short_digit", "long_digit", "single_step_reasoning", "multi_step_reasoning"),
                            all_splits=True),
    # tencent/WildSpeech-Bench: audio, user_query, taskType, checklist, conversation_hash, ... (split train).
    "wildspeech": HubSchema("WildSpeech-Bench", ("metadata.jsonl", "metadata.json", "metadata.csv",
                                                 "data/metadata.jsonl"), "audio", audio_columns=("audio",),
                            splits=("train", "test")),
}


@dataclass(frozen=True)
class Snapshot:
    """Rows of a hub snapshot under the official field names; audio fields are relative to `audio_dir`."""

    layout: str                       # "Hugging Face parquet snapshot" or "datasets save_to_disk folder"
    source: Path                      # the snapshot folder
    audio_dir: Path
    splits: dict[str, list[dict]]     # split name -> rows, in the snapshot's order

    @property
    def rows(self) -> list[dict]:
        (rows,) = self.splits.values()
        return rows

    def describe(self) -> str:
        counts = ", ".join(f"{name} {len(rows)} rows" for name, rows in self.splits.items())
        return f"{self.layout} ({counts})"


def layout_of(snapshot: Snapshot | None) -> str:
    """What a loader read: "release files" (the benchmark authors' own layout), or the snapshot's layout and splits."""
    return "release files" if snapshot is None else snapshot.describe()


def audio_cache_dir() -> Path:
    """Where hub audio bytes are written: $MGRD_CACHE, else $XDG_CACHE_HOME/mgrd, else ~/.cache/mgrd."""
    base = os.environ.get("MGRD_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mgrd"
    return Path(base) / "hub-audio"


def snapshot_kind(root: str | os.PathLike) -> str | None:
    """"save_to_disk", "parquet" or None: the hub layout found in `root`."""
    root = Path(root)
    if not root.is_dir():
        return None
    if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
        return "save_to_disk"
    return "parquet" if _parquet_files(root) else None


def read_snapshot(root: str | os.PathLike, schema: HubSchema, *,
                  audio_dir: str | os.PathLike | None = None) -> Snapshot | None:
    """The rows of the hub snapshot in `root`, or None when `root` holds the official files or no
    snapshot at all (the official loader then says what it expected)."""
    root = Path(root)
    if any((root / name).is_file() for name in schema.official):
        return None
    kind = snapshot_kind(root)
    if kind is None:
        return None
    tables = _save_to_disk_splits(root) if kind == "save_to_disk" else _parquet_splits(root)
    chosen = _choose(tables, schema, root)
    store = AudioStore(Path(audio_dir) if audio_dir is not None else audio_cache_dir())
    splits = {name: [_official_row(row, schema, store, f"{root} ({name}, row {i})")
                     for i, row in enumerate(tables[name]())] for name in chosen}
    layout = "Hugging Face parquet snapshot" if kind == "parquet" else "datasets save_to_disk folder"
    return Snapshot(layout, root, store.root, splits)


class AudioStore:
    """Audio bytes written once per content (`<sha256>.<wav|flac|ogg|mp3>`), named relative to `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, what: str) -> str:
        try:
            container = sniff_container(data)
        except AudioError as e:
            raise LayoutError(f"{what}: the audio column's bytes are not audio: {e}") from None
        name = f"{hashlib.sha256(data).hexdigest()[:40]}.{container.name.lower()}"
        path = self.root / name
        if not path.is_file():
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
        return name


def _official_row(row: dict, schema: HubSchema, store: AudioStore, what: str) -> dict:
    out = dict(row)
    extra = row.get("other_attributes")
    if isinstance(extra, Mapping):          # AudioBench uploads keep the original fields there
        for key, value in extra.items():
            out.setdefault(key, value)
    for name, columns in schema.renames.items():
        if out.get(name) is None:
            found = next((out[c] for c in columns if out.get(c) is not None), None)
            if found is not None:
                out[name] = found
    if isinstance(out.get("choices"), str):   # lmms-lab stores the list as a JSON string
        try:
            out["choices"] = json.loads(out["choices"])
        except json.JSONDecodeError:
            raise LayoutError(f"{what}: choices is neither a list nor a JSON list: {out['choices']!r}") from None
    column = next((c for c in schema.audio_columns if isinstance(row.get(c), Mapping) and "bytes" in row[c]), None)
    if column is None:
        columns = ", ".join(sorted(row)) or "none"
        raise LayoutError(f"{what}: no audio column; expected one of {', '.join(schema.audio_columns)} holding "
                          f"{{bytes, path}} (columns found: {columns})")
    audio = out.pop(column)   # the bytes are not kept in memory once written
    if not audio.get("bytes"):
        raise LayoutError(f"{what}: the audio column holds no bytes (path {audio.get('path')!r}); hub parquet "
                          "and save_to_disk folders embed the audio, so this snapshot is incomplete")
    out[schema.audio] = store.put(audio["bytes"], what)
    return out


def _choose(tables: dict, schema: HubSchema, root: Path) -> list[str]:
    wanted = [s for s in schema.splits if s in tables]
    if schema.all_splits and wanted:
        return wanted
    if wanted:
        return wanted[:1]
    if len(tables) == 1 and not schema.all_splits:
        return list(tables)
    raise LayoutError(f"{schema.benchmark}: the snapshot in {root} has the splits {', '.join(sorted(tables)) or 'none'}; "
                      f"expected {'some' if schema.all_splits else 'one'} of {', '.join(schema.splits)}")


def _datasets():
    try:
        import datasets
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("reading a Hugging Face hub snapshot needs the `hub` extra: "
                                  "pip install 'mgrd[hub]'", name=e.name) from None
    return datasets


def _save_to_disk_splits(root: Path) -> dict:
    loaded = _datasets().load_from_disk(str(root))
    parts = dict(loaded) if hasattr(loaded, "keys") else {str(loaded.split or "train"): loaded}

    def rows(ds) -> Iterator[dict]:
        for table in ds.with_format("arrow").iter(batch_size=_BATCH):   # raw {bytes, path}: nothing decoded
            yield from table.to_pylist()

    return {name: (lambda ds=ds: rows(ds)) for name, ds in parts.items()}


def _parquet_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet")
                  if not any(part.startswith(".") for part in p.relative_to(root).parts))


def _split_names(path: Path, root: Path) -> list[str]:
    """The split a shard belongs to (`data/test_mini-00000-of-00001.parquet`, `short_digit/test-0000...`,
    `config/split/0000.parquet`), then its config folder, so either can be asked for."""
    rel = path.relative_to(root)
    folders = [p for p in rel.parent.parts if p != "data"]
    match = _SHARD.match(path.stem)
    if match:
        return [match["split"], *folders[:1]]
    if path.stem.isdigit() and folders:          # refs/convert/parquet: config/split/0000.parquet
        return [folders[-1], *folders[:1]]
    return [path.stem, *folders[:1]]


def _parquet_splits(root: Path) -> dict:
    _datasets()
    import pyarrow.parquet as pq

    groups: dict[str, list[Path]] = {}
    for path in _parquet_files(root):
        for name in dict.fromkeys(_split_names(path, root)):
            groups.setdefault(name, []).append(path)

    def rows(paths: list[Path]) -> Iterator[dict]:
        for path in paths:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH):
                yield from batch.to_pylist()

    return {name: (lambda paths=paths: rows(paths)) for name, paths in groups.items()}
