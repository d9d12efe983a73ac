"""Training checkpoints: atomic, committed, verified on load, with everything an exact resume needs.

Layout of `RUN/checkpoints/step_00000012/`:
  model/                  the AudioLM in the official layout (config.json + safetensors, tokenizer)
  <name>.safetensors      other modules (critic, auxiliary heads)
  optim_<name>.safetensors + optim_<name>.json   optimizer tensors and the rest of its state
  rng.safetensors         torch RNG states
  trainer_state.json      step, data position, Python/NumPy RNG, config and data digests
  config.yaml             the run's config
  COMMIT.json             written last: the sha256 of every file above
A checkpoint is written into `.tmp-step_...`, renamed into place, then committed. Only
committed directories are ever loaded; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from mgrd.io import atomic_path, write_json_atomic, write_text_atomic

COMMIT = "COMMIT.json"
PREFIX = "step_"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupted or incompatible (the message names the file)."""


@dataclass
class Checkpoint:
    """What `load_checkpoint` returns: state dicts (full, on CPU) and the trainer state."""

    path: Path
    step: int
    model: dict[str, torch.Tensor]
    modules: dict[str, dict[str, torch.Tensor]]
    optimizers: dict[str, dict]
    trainer_state: dict[str, Any]
    rng: dict[str, Any]


def checkpoint_root(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "checkpoints"


def committed_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Committed checkpoint directories of a run, oldest first; partial ones are not listed."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / COMMIT).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    found = committed_checkpoints(run_dir)
    return found[-1] if found else None


# ---- RNG ---------------------------------------------------------------------------------------
def capture_rng() -> dict[str, Any]:
    """Python, NumPy and torch (CPU, CUDA) generator states."""
    state = {"python": _json_python_state(random.getstate()), "numpy": _json_numpy_state(np.random.get_state()),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _json_python_state(s):
    return [s[0], list(s[1]), s[2]]


def _json_numpy_state(s):
    return [s[0], s[1].tolist(), int(s[2]), int(s[3]), float(s[4])]


# ---- optimizer state <-> safetensors + JSON ---------------------------------------------------------
def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, rest = {}, {"state": {}, "param_groups": state["param_groups"]}
    for pid, entries in state["state"].items():
        rest["state"][str(pid)] = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}\x1f{key}"] = value.detach().cpu().contiguous()
                rest["state"][str(pid)][key] = {"tensor": f"{pid}\x1f{key}"}
            else:
                rest["state"][str(pid)][key] = {"value": value}
    return tensors, rest


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state = {}
    for pid, entries in rest["state"].items():
        key_pid: Any = int(pid) if pid.isdigit() else pid
        state[key_pid] = {k: tensors[v["tensor"]] if "tensor" in v else v["value"] for k, v in entries.items()}
    groups = []
    for g in rest["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


# ---- save ----------------------------------------------------------------------------------------
def save_checkpoint(run_dir: str | os.PathLike, step: int, *, model_writer, modules: dict[str, dict] | None = None,
                    optimizers: dict[str, dict] | None = None, trainer_state: dict[str, Any],
                    config_text: str, keep_last: int = 2, rng: dict[str, Any] | None = None) -> Path:
    """Write, rename into place and commit checkpoint `step`; then keep only the newest `keep_last`.

    `model_writer(directory)` writes the AudioLM (save_pretrained); `modules` and `optimizers`
    are full state dicts. Older checkpoints are removed only after the new one is committed,
    so a failure at any point leaves the previous committed checkpoint intact.
    """
    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".tmp-{final.name}"
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp.mkdir()
    try:
        model_writer(tmp / "model")
        for name, sd in (modules or {}).items():
            _save_tensors(tmp / f"{name}.safetensors", sd)
        for name, osd in (optimizers or {}).items():
            tensors, rest = _flatten_optimizer(osd)
            _save_tensors(tmp / f"optim_{name}.safetensors", tensors)
            write_json_atomic(tmp / f"optim_{name}.json", rest)
        rng = capture_rng() if rng is None else rng
        rng_tensors = {k: v for k, v in rng.items() if isinstance(v, torch.Tensor)}
        _save_tensors(tmp / "rng.safetensors", rng_tensors)
        write_json_atomic(tmp / "trainer_state.json", {**trainer_state, "step": step, "rng": {
            k: v for k, v in rng.items() if not isinstance(v, torch.Tensor)}})
        write_text_atomic(tmp / "config.yaml", config_text)
        if final.exists():            # an uncommitted leftover of the same step
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(p for p in final.rglob("*") if p.is_file())
    write_json_atomic(final / COMMIT, {"step": step, "files": {str(p.relative_to(final)): _sha256(p) for p in files}})
    _fsync_dir(root)
    prune(run_dir, keep_last)
    return final


def prune(run_dir: str | os.PathLike, keep_last: int) -> None:
    """Remove all but the newest `keep_last` committed checkpoints, and uncommitted leftovers."""
    committed = committed_checkpoints(run_dir)
    for old in committed[: max(0, len(committed) - max(1, keep_last))]:
        (old / COMMIT).unlink()       # uncommit first: a crash mid-removal leaves no half checkpoint
        shutil.rmtree(old, ignore_errors=True)
    root = checkpoint_root(run_dir)
    newest = committed[-1] if committed else None
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith(PREFIX) and not (p / COMMIT).is_file() and p != newest:
            shutil.rmtree(p, ignore_errors=True)


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- load ----------------------------------------------------------------------------------------
def verify_checkpoint(path: str | os.PathLike) -> dict:
    """Check the commit marker and every file's sha256; raise CheckpointError naming the bad file."""
    path = Path(path)
    marker = path / COMMIT
    if not marker.is_file():
        raise CheckpointError(f"{path} is not a committed checkpoint: {marker} is missing (a partial save)")
    try:
        commit = json.loads(marker.read_text(encoding="utf-8"))
        files = commit["files"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CheckpointError(f"{marker} is corrupted: not the JSON commit record of a checkpoint") from None
    for rel, digest in files.items():
        f = path / rel
        if not f.is_file():
            raise CheckpointError(f"checkpoint file {f} is missing; the checkpoint cannot be resumed")
        if _sha256(f) != digest:
            raise CheckpointError(f"checkpoint file {f} is corrupted (sha256 differs from {marker})")
    return commit


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Verify and read a committed checkpoint (tensors on CPU)."""
    path = Path(path)
    commit = verify_checkpoint(path)
    files = commit["files"]
    model_files = [rel for rel in files if rel.startswith("model/") and rel.endswith(".safetensors")]
    model: dict[str, torch.Tensor] = {}
    for rel in model_files:
        model.update(_load_tensors(path / rel))
    modules, optimizers = {}, {}
    for rel in files:
        if "/" in rel or not rel.endswith(".safetensors") or rel == "rng.safetensors":
            continue
        name = rel[: -len(".safetensors")]
        if name.startswith("optim_"):
            rest = _read_json(path / f"{name}.json")
            optimizers[name[len("optim_"):]] = _unflatten_optimizer(_load_tensors(path / rel), rest)
        else:
            modules[name] = _load_tensors(path / rel)
    state = _read_json(path / "trainer_state.json")
    rng = dict(state.pop("rng", {}))
    rng.update(_load_tensors(path / "rng.safetensors"))
    return Checkpoint(path, int(commit["step"]), model, modules, optimizers, state, rng)


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"checkpoint file {path} cannot be read as safetensors ({e})") from None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file {path} is missing") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint file {path} is not valid JSON ({e.msg})") from None


def check_compatible(saved: dict[str, Any], current: dict[str, Any], *, allow_changed: bool, path: Path) -> None:
    """Refuse to resume when the config or the data differ from the checkpoint's (unless allowed)."""
    problems = []
    old_cfg, new_cfg = saved.get("config", {}), current.get("config", {})
    changed = sorted(k for k in set(old_cfg) | set(new_cfg) if old_cfg.get(k) != new_cfg.get(k))
    if changed:
        problems.append("config keys changed: " + ", ".join(
            f"{k} ({old_cfg.get(k)!r} -> {new_cfg.get(k)!r})" for k in changed[:8]))
    if saved.get("data") != current.get("data"):
        problems.append(f"data files changed: {saved.get('data')} -> {current.get('data')}")
    if saved.get("world_size", 1) != current.get("world_size", 1):
        problems.append(f"world size changed: {saved.get('world_size', 1)} -> {current.get('world_size', 1)}")
    if problems and not allow_changed:
        raise CheckpointError(f"refusing to resume from {path}: " + "; ".join(problems) +
                              ". Start a new run directory, or pass run.allow_changed=true to resume anyway")
