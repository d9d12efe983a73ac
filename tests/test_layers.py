"""The layering of the design: a lower layer never imports a higher one (checked on the source)."""

import ast
from pathlib import Path

import pytest

import mgrd

LAYERS = {
    "runtime": 0, "io": 0, "progress": 0,
    "audio": 1, "chat": 1, "scoring": 1,
    "model": 2,
    "inference": 3, "data": 3, "tasks": 3, "remote": 3,
    "training": 4, "evaluation": 4,
    "serving": 5, "pipeline": 5,
    "cli": 6,
}
# Pairs on one layer that must not import each other, and the only packages serving may use.
SEPARATE = {("training", "evaluation"), ("evaluation", "training")}
SERVING_MAY_USE = {"runtime", "io", "progress", "audio", "chat", "model", "inference", "serving"}

ROOT = Path(mgrd.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name.split(".")[1] for name in found if name.startswith("mgrd.") and name.count(".") >= 1}


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


SOURCES = [p for p in ROOT.rglob("*.py") if _package(p) in LAYERS]


def test_every_package_has_a_layer():
    packages = {_package(p) for p in ROOT.rglob("*.py") if p.name != "__init__.py" or p.parent != ROOT}
    assert packages <= set(LAYERS), f"packages without a layer: {packages - set(LAYERS)}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_upward_or_sideways_imports(path):
    own = _package(path)
    for used in _imports(path):
        assert used in LAYERS, f"{path.name} imports unknown package mgrd.{used}"
        assert LAYERS[used] <= LAYERS[own], f"mgrd.{own} (L{LAYERS[own]}) imports mgrd.{used} (L{LAYERS[used]})"
        assert (own, used) not in SEPARATE, f"mgrd.{own} must not import mgrd.{used}"
        if own == "serving":
            assert used in SERVING_MAY_USE, f"mgrd.serving imports mgrd.{used}"
