"""The code a stage runs, for its key: the package version and the source of the modules it reaches.

A stage names its roots: the pipeline module that defines it and the trainer modules it calls
(they are imported inside the stage function, so they cannot be found from the module's imports).
From the roots the closure follows every `mgrd` import of a non-pipeline module (top level and
inside functions) and only the module-level imports of a pipeline module: pipeline modules import
their trainers lazily, and following those would make every stage depend on every trainer.
The digest is over the sorted (module, sha256 of source) pairs plus `mgrd.__version__`.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import mgrd

ROOT = Path(mgrd.__file__).resolve().parent


def module_file(name: str) -> Path | None:
    """The source file of module `name` (`mgrd.a.b` -> a/b.py or a/b/__init__.py), None if there is none."""
    if name != "mgrd" and not name.startswith("mgrd."):
        return None
    parts = name.split(".")[1:]
    if not parts:
        return ROOT / "__init__.py"
    rel = Path(*parts)
    for candidate in (ROOT / rel.with_suffix(".py"), ROOT / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_source(name: str) -> bytes:
    """The bytes of a module's source (the one place the digest reads code from)."""
    path = module_file(name)
    if path is None:
        raise ModuleNotFoundError(f"stage code names {name}, which is not a module of this mgrd")
    return path.read_bytes()


@lru_cache(maxsize=4096)
def _imports(name: str, source: bytes, top_level_only: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(modules to follow, packages only hashed): `from pkg import module` follows the module, not pkg's
    __init__ (which re-exports every trainer); the parent packages Python runs first are hashed only."""
    tree = ast.parse(source)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    own = module_file(name)
    package = name if own is not None and own.name == "__init__.py" else name.rpartition(".")[0]
    follow: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            follow |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            submodules = {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}") is not None}
            follow |= submodules
            if len(submodules) < len(node.names):
                follow.add(base)
    follow = {n for n in follow if module_file(n) is not None}
    parents = {".".join(n.split(".")[:i]) for n in follow for i in range(1, n.count(".") + 1)} - follow
    return tuple(sorted(follow)), tuple(sorted(parents))


def closure(roots: Iterable[str]) -> list[str]:
    """Every module the roots reach (see the module docstring for the rule), sorted."""
    seen: set[str] = set()
    hashed: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        pipeline = name == "mgrd.pipeline" or name.startswith("mgrd.pipeline.")
        follow, parents = _imports(name, module_source(name), pipeline)
        todo += [n for n in follow if n not in seen]
        hashed |= set(parents)
    return sorted(seen | hashed)


def code_digest(roots: Iterable[str]) -> str:
    """sha256 (16 hex) of the package version and the sources of `closure(roots)`."""
    entries = [(n, hashlib.sha256(module_source(n)).hexdigest()) for n in closure(roots)]
    blob = repr((mgrd.__version__, entries)).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
