"""The run manifest: code version, config, model and judge identity, data hashes, sampling, prompts."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import mgrd

PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "httpx", "soundfile", "soxr")


def code_version() -> dict:
    """mgrd's version and, when run from a git checkout, its commit and whether it has local changes."""
    root = Path(mgrd.__file__).resolve().parents[1]
    info = {"mgrd": mgrd.__version__, "commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10)
            info.update(commit=commit.stdout.strip(), dirty=bool(status.stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def environment() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": versions}


def build_manifest(*, config: dict, model: dict, judge: dict | None, tasks: dict, argv: list[str] | None = None,
                   scoring_version: str) -> dict:
    """Everything needed to rerun and re-score the run; `tasks[name]` holds version, source, items,
    data hash, prompt and sampling."""
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "code": code_version(), "environment": environment(),
            "argv": list(sys.argv if argv is None else argv), "config": config, "model": model, "judge": judge,
            "tasks": tasks, "scoring_version": scoring_version}
