"""A killed export leaves temporaries; the next save into the folder removes them (issue 15, finding 11)."""

import subprocess
import sys

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.io import remove_stale_temporaries
from mgrd.model import AudioTokenIds, build_model, load_pretrained, save_pretrained, tiny_config

KILLED_WRITE = """
import os, sys
from mgrd.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a tensor")
    os._exit(9)   # killed mid-write: no cleanup runs
"""


def _killed_write(path):
    rc = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(path)], check=False).returncode
    assert rc == 9


def test_next_save_removes_a_killed_exports_temporaries(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    _killed_write(out / "model.safetensors")
    _killed_write(out / "tokenizer.json")
    stray = sorted(p.name for p in out.iterdir())
    assert len(stray) == 2 and all(n.startswith((".model.safetensors.", ".tokenizer.json.")) and n.endswith(".tmp")
                                   for n in stray)
    (out / "notes.tmp").write_text("not ours")   # not an atomic writer's name: kept
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = tiny_config(448, audio_token_ids=AudioTokenIds.of(s),
                      eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    save_pretrained(build_model(cfg, seed=0), out, tokenizer=tokenizer)
    names = {p.name for p in out.iterdir()}
    assert not any(n.endswith(".tmp") and n.startswith(".") for n in names)
    assert "notes.tmp" in names and "model.safetensors" in names
    load_pretrained(out)


def test_remove_stale_temporaries_names_what_it_removed(tmp_path):
    _killed_write(tmp_path / "config.json")
    removed = remove_stale_temporaries(tmp_path)
    assert len(removed) == 1 and removed[0].startswith(".config.json.")
    assert list(tmp_path.iterdir()) == []
