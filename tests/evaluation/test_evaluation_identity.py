"""Weight-index entries stay inside the checkpoint; the eval identity covers exactly the loaded files (issue 15, finding 5)."""

import json
import os
import shutil

import pytest
from safetensors.torch import load_file, save_file

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.evaluation.identity import checkpoint_identity
from mgrd.model import AudioTokenIds, build_model, load_pretrained, save_pretrained, tiny_config
from mgrd.model.checkpoint import weight_files


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "sharded"
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = tiny_config(448, audio_token_ids=AudioTokenIds.of(s),
                      eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    save_pretrained(model, out, tokenizer=tokenizer, max_shard_bytes=200_000)
    assert (out / "model.safetensors.index.json").is_file()
    return out


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("entry", ["../outside.safetensors", "ABSOLUTE", "sub/../../x.safetensors"])
def test_index_entries_leaving_the_checkpoint_are_refused(sharded, tmp_path, entry):
    ckpt = _copy(sharded, tmp_path / "ckpt")
    index_path = ckpt / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    first = next(iter(index["weight_map"]))
    moved = tmp_path / "outside.safetensors"
    shutil.copy(ckpt / index["weight_map"][first], moved)
    index["weight_map"][first] = str(moved) if entry == "ABSOLUTE" else entry
    index_path.write_text(json.dumps(index))
    with pytest.raises(ValueError, match="not a file name inside"):
        weight_files(ckpt)
    with pytest.raises(ValueError, match="not a file name inside"):
        load_pretrained(ckpt)
    with pytest.raises(ValueError, match="not a file name inside"):
        checkpoint_identity(ckpt)


def test_identity_ignores_files_that_are_not_loaded(sharded, tmp_path):
    ckpt = _copy(sharded, tmp_path / "ckpt")
    before = checkpoint_identity(ckpt)
    (ckpt / "README.md").write_text("notes")
    (ckpt / "trainer_state.json").write_text("{}")
    assert checkpoint_identity(ckpt) == before


def test_identity_follows_every_loaded_file(sharded, tmp_path):
    ckpt = _copy(sharded, tmp_path / "ckpt")
    before = checkpoint_identity(ckpt)
    (ckpt / "tokenizer_config.json").write_text((ckpt / "tokenizer_config.json").read_text() + " ")
    assert checkpoint_identity(ckpt) != before


def test_rewritten_weights_change_the_identity_and_full_hash_reads_bytes(sharded, tmp_path):
    ckpt = _copy(sharded, tmp_path / "ckpt")
    shard = sorted(set(weight_files(ckpt).values()))[0]
    fast, full = checkpoint_identity(ckpt), checkpoint_identity(ckpt, full_hash=True)
    stat = shard.stat()
    tensors = load_file(shard)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1.0           # same names, dtypes and shapes: the same header
    save_file(tensors, shard, metadata={"format": "pt"})
    assert shard.stat().st_size == stat.st_size
    assert checkpoint_identity(ckpt) != fast       # its modification time moved
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert checkpoint_identity(ckpt) == fast       # the fast key's documented blind spot...
    assert checkpoint_identity(ckpt, full_hash=True) != full   # ...which the full hash closes
