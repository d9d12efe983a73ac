"""No import cycles: between the package's modules, and between its subpackages, counting every
import statement of the source (those inside functions too, so a lazy import cannot hide one)."""

import ast
from pathlib import Path

import mgrd

ROOT = Path(mgrd.__file__).parent


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under the package directory `root`."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (`from pkg import mod` counts as importing `pkg.mod`)."""
    modules = module_names(root)
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        used = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                used |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(node, package)
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        used.add(f"{target}.{alias.name}")
                    elif target in modules:
                        used.add(target)
        graph[name] = used - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Subpackage -> subpackages it imports (`mgrd.tasks.world` belongs to `tasks`)."""
    def top(name: str) -> str:
        return name.split(".")[1] if "." in name else name
    out: dict[str, set[str]] = {}
    for name, used in graph.items():
        out.setdefault(top(name), set()).update(top(u) for u in used if top(u) != top(name))
    return out


def test_no_cycle_between_modules():
    assert cycles(import_graph(ROOT)) == []


def test_no_cycle_between_packages():
    assert cycles(package_graph(import_graph(ROOT))) == []


def test_a_planted_lazy_cycle_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "a").mkdir(parents=True)
    (pkg / "b").mkdir()
    for path in (pkg / "__init__.py", pkg / "a" / "__init__.py", pkg / "b" / "__init__.py"):
        path.write_text("")
    (pkg / "a" / "one.py").write_text("def f():\n    from pkg.b.two import g\n    return g\n")
    (pkg / "b" / "two.py").write_text("from pkg.a import one\n\ndef g():\n    return one\n")
    (pkg / "b" / "three.py").write_text("from . import two\n")
    graph = import_graph(pkg)
    assert graph["pkg.a.one"] == {"pkg.b.two"} and graph["pkg.b.two"] == {"pkg.a.one"}
    assert graph["pkg.b.three"] == {"pkg.b.two"}
    assert cycles(graph) == [["pkg.a.one", "pkg.b.two"]]
    assert cycles(package_graph(graph)) == [["a", "b"]]
    assert cycles({"x": {"y"}, "y": {"z"}, "z": set()}) == []
