"""The run directory's record of how a run was made: config, code version, environment."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from mgrd.io import write_json_atomic, write_text_atomic

MANIFEST = "manifest.json"


def code_version() -> dict[str, str | bool | None]:
    """mgrd's version and, when run from a git checkout, its commit and whether it has local edits."""
    import mgrd

    root = Path(mgrd.__file__).resolve().parent.parent
    info: dict[str, str | bool | None] = {"mgrd": getattr(mgrd, "__version__", None), "git_commit": None,
                                          "git_dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10)
            info["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return info


def environment() -> dict:
    """Interpreter, library versions, platform and devices."""
    import numpy
    import transformers

    env = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
           "numpy": numpy.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "cuda": torch.version.cuda,
           "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
           "world_size": int(os.environ.get("WORLD_SIZE", "1")), "argv": sys.argv}
    return env


def record_run(run_dir: str | os.PathLike, config_text: str, *, stage: str) -> None:
    """Write RUN/config.yaml and RUN/manifest.json (stage, code version, environment)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", config_text)
    write_json_atomic(run_dir / MANIFEST, {"stage": stage, "code": code_version(), "environment": environment()})
