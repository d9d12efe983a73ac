"""Task names → loaders: `load_task("mmau", data_dir)`; benchmark graders without their data."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from mgrd.tasks.base import Task


@dataclass(frozen=True)
class TaskSpec:
    """Where a task's loader lives, its keyword arguments, and its usual folder under a data root."""

    name: str
    loader: str                          # "module:function(data_dir, **kwargs)"
    data_dirs: tuple[str, ...]           # folder names tried under --data-root, in order
    description: str
    grader: str | None = None            # "module:Class", constructible with no items
    kwargs: Mapping = field(default_factory=lambda: MappingProxyType({}))


_B = "mgrd.tasks.benchmarks"
TASKS: dict[str, TaskSpec] = {s.name: s for s in (
    TaskSpec("mmau", f"{_B}.mmau:load_mmau", ("MMAU", "mmau", "MMAU-test-mini"),
             "MMAU test-mini, v05.15.25 labels", f"{_B}.mmau:MMAU", MappingProxyType({"labels": "v05.15.25"})),
    TaskSpec("mmau-original", f"{_B}.mmau:load_mmau", ("MMAU", "mmau", "MMAU-test-mini"),
             "MMAU test-mini, original labels (mmau-test-mini-original.json)", f"{_B}.mmau:MMAUOriginal",
             MappingProxyType({"labels": "original"})),
    TaskSpec("mmar", f"{_B}.mmar:load_mmar", ("MMAR", "mmar"), "MMAR", f"{_B}.mmar:MMAR"),
    TaskSpec("mmsu", f"{_B}.mmsu:load_mmsu", ("MMSU", "mmsu", "MMSU_Bench/MMSU"), "MMSU (Wang et al. 2025)",
             f"{_B}.mmsu:MMSU"),
    TaskSpec("bigbench_audio", f"{_B}.bigbench_audio:load_bigbench_audio",
             ("big_bench_audio", "bigbench_audio", "BigBenchAudio"), "Big Bench Audio (judged)",
             f"{_B}.bigbench_audio:BigBenchAudio"),
    TaskSpec("spoken_mqa", f"{_B}.spoken_mqa:load_spoken_mqa", ("spoken-mqa", "spoken_mqa", "Spoken-MQA"),
             "Spoken-MQA (four splits)", f"{_B}.spoken_mqa:SpokenMQA"),
    TaskSpec("wildspeech", f"{_B}.wildspeech:load_wildspeech", ("WildSpeech-Bench", "wildspeech"),
             "WildSpeech-Bench (judged 1-10)", f"{_B}.wildspeech:WildSpeech"),
    TaskSpec("world", "mgrd.tasks.world:load_world_task", ("world",), "the synthetic world's held-out split",
             None, MappingProxyType({"split": "heldout"})),
    TaskSpec("world-dev", "mgrd.tasks.world:load_world_task", ("world",),
             "the synthetic world's dev split (for choosing settings; `mgrd world generate --split dev`)",
             None, MappingProxyType({"split": "dev"})),
)}


def task_names() -> list[str]:
    return list(TASKS)


def task_spec(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def _import(target: str, what: str):
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise ModuleNotFoundError(f"{what} needs {target.replace(':', '.')}, which this installation "
                                      f"of mgrd does not have ({e.name} is missing)", name=e.name) from None
        raise
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModuleNotFoundError(f"{what}: {module_name} has no {attr}") from None


def load_task(name: str, data_dir: str | Path) -> Task:
    """Load task `name` from its local directory (official layout)."""
    spec = task_spec(name)
    loader = _import(spec.loader, f"task {name!r}")
    return loader(Path(data_dir), **dict(spec.kwargs))


def resolve_data_dir(name: str, data_root: str | Path) -> Path:
    """The folder of task `name` under `data_root` (the first of its usual names that exists)."""
    spec = task_spec(name)
    root = Path(data_root)
    for sub in spec.data_dirs:
        if (root / sub).is_dir():
            return root / sub
    raise FileNotFoundError(f"no folder for task {name!r} under {root}; expected one of "
                            f"{', '.join(spec.data_dirs)} (or pass --data for that task)")


def grader(name: str) -> Task | None:
    """An item-less instance of the task's class, to grade stored outputs; None when the task has
    no standalone grader (its stored scores are used instead)."""
    spec = task_spec(name)
    return None if spec.grader is None else _import(spec.grader, f"task {name!r}")()
