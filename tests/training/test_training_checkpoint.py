"""Checkpoints: exact resume after a kill, SIGTERM, partial and corrupted checkpoints, refused changes."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from mgrd.training import checkpoint as ckpt
from mgrd.training.config import SFTConfig, from_dict
from mgrd.training.sft import sample_ids, train_sft

from conftest import sft_overrides, write_jsonl


class Killed(BaseException):
    """Stands in for the process dying right after a step (nothing after it runs)."""


def kill_after(k):
    def hook(step, metrics):
        if step == k:
            raise Killed()
    return hook


def weights(run_dir):
    path = ckpt.latest_checkpoint(run_dir)
    return load_file(str(path / "model" / "model.safetensors")), path


def test_resume_after_kill_is_bit_identical(micro_dir, sft_data, tmp_path):
    full = train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "a")))
    cfg_b = from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "b"))
    with pytest.raises(Killed):
        train_sft(cfg_b, after_step=kill_after(5))     # step 5 done, not saved (save_every 2)
    resumed = train_sft(cfg_b)
    assert [h["loss"] for h in resumed.history] == full.losses[4:]    # steps 5..8, bitwise
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in full.history[4:]]
    assert sample_ids(resumed.history) == sample_ids(full.history[4:])
    wa, pa = weights(tmp_path / "a")
    wb, pb = weights(tmp_path / "b")
    assert pa.name == pb.name == "step_00000008"
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    oa, ob = load_file(str(pa / "optim_model.safetensors")), load_file(str(pb / "optim_model.safetensors"))
    assert all(torch.equal(oa[k], ob[k]) for k in oa)
    assert [p.name for p in ckpt.committed_checkpoints(tmp_path / "b")] == ["step_00000006", "step_00000008"]


def test_kill_9_in_a_subprocess_then_resume(micro_dir, sft_data, tmp_path):
    overrides = sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=6)
    script = textwrap.dedent(f"""
        import os, signal, torch
        torch.set_num_threads(1)
        from mgrd.training.config import SFTConfig, from_dict
        from mgrd.training.sft import train_sft
        cfg = from_dict(SFTConfig, {overrides!r})
        def hook(step, metrics):
            if step == 4:
                os.kill(os.getpid(), signal.SIGKILL)
        train_sft(cfg, after_step=hook)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert ckpt.latest_checkpoint(tmp_path / "run").name == "step_00000004"
    resumed = train_sft(from_dict(SFTConfig, overrides))
    full = train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "ref", max_steps=6)))
    assert resumed.losses == full.losses[4:]


def test_sigterm_commits_at_the_step_boundary_and_resume_continues(micro_dir, sft_data, tmp_path):
    cfg = from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", **{"run.save_every": 100}))

    def hook(step, metrics):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)     # a second one is ignored too

    first = train_sft(cfg, after_step=hook)
    assert first.preempted and first.steps == 4   # the signal arrived after step 3's boundary check
    assert ckpt.latest_checkpoint(tmp_path / "run").name == "step_00000004"
    rest = train_sft(cfg)
    full = train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "ref")))
    assert first.losses + rest.losses == full.losses


def test_partial_checkpoint_is_ignored(micro_dir, sft_data, tmp_path):
    cfg = from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=4))
    train_sft(cfg)
    newest = ckpt.latest_checkpoint(tmp_path / "run")
    (newest / ckpt.COMMIT).unlink()                   # as if killed before the commit marker
    assert ckpt.latest_checkpoint(tmp_path / "run").name == "step_00000002"
    (tmp_path / "run" / "checkpoints" / ".tmp-step_00000006").mkdir()   # killed mid-write
    resumed = train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=4)))
    assert len(resumed.history) == 2                  # steps 3 and 4 redone from step 2
    assert not (tmp_path / "run" / "checkpoints" / ".tmp-step_00000006").exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
@pytest.mark.parametrize("target", ["optim_model.safetensors", "model/model.safetensors", "trainer_state.json"])
def test_corrupted_checkpoint_is_refused_naming_the_file(micro_dir, sft_data, tmp_path, damage, target):
    cfg = from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=2))
    train_sft(cfg)
    f = ckpt.latest_checkpoint(tmp_path / "run") / target
    data = f.read_bytes()
    if damage == "flip":
        f.write_bytes(data[:40] + bytes([data[40] ^ 0xFF]) + data[41:])
    elif damage == "truncate":
        f.write_bytes(data[: len(data) // 2])
    else:
        f.unlink()
    with pytest.raises(ckpt.CheckpointError, match=str(f).replace("\\", "\\\\")):
        train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=4)))


def test_resume_with_changed_config_or_data_is_refused_unless_allowed(micro_dir, sft_data, tmp_path):
    train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=2)))
    with pytest.raises(ckpt.CheckpointError, match=r"optim\.lr"):
        train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=4,
                                                     **{"optim.lr": 0.5})))
    records = [line for line in sft_data.read_text().splitlines()]
    sft_data.write_text("\n".join(records[:3]) + "\n")
    with pytest.raises(ckpt.CheckpointError, match="data files changed"):
        train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=4)))
    ok = train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=4,
                                                      **{"run.allow_changed": True})))
    assert ok.steps == 4 and len(ok.history) == 2
    # observation-only keys never block a resume
    more = train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=5,
                                                        **{"run.allow_changed": True, "run.log_every": 3})))
    assert more.steps == 5


def test_failed_save_keeps_the_previous_checkpoint(tmp_path):
    def writer(d):
        d.mkdir(parents=True)
        (d / "model.safetensors").write_bytes(b"x")

    run = tmp_path / "run"
    ckpt.save_checkpoint(run, 1, model_writer=writer, trainer_state={}, config_text="", keep_last=1)

    def broken(d):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        ckpt.save_checkpoint(run, 2, model_writer=broken, trainer_state={}, config_text="", keep_last=1)
    assert [p.name for p in ckpt.committed_checkpoints(run)] == ["step_00000001"]
    assert ckpt.verify_checkpoint(run / "checkpoints" / "step_00000001")["step"] == 1
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_checkpoints_hold_no_pickles(micro_dir, sft_data, tmp_path):
    train_sft(from_dict(SFTConfig, sft_overrides(micro_dir, sft_data, tmp_path / "run", max_steps=2)))
    files = {p.suffix for p in ckpt.latest_checkpoint(tmp_path / "run").rglob("*") if p.is_file()}
    assert files <= {".safetensors", ".json", ".yaml"}
    import mgrd.training as pkg
    from pathlib import Path
    for src in Path(pkg.__file__).parent.glob("*.py"):
        assert not re.search(r"import pickle|pickle\.load|torch\.load\(|import dill", src.read_text()), src


def test_rng_round_trip():
    import random
    import numpy as np
    state = ckpt.capture_rng()
    a = (random.random(), float(np.random.rand()), float(torch.rand(())))
    ckpt.restore_rng(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == a
