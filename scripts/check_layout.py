"""Check the package layout: no import cycle, no oversized module, no import up the layers.

Run by ``make lint`` (and so by CI): ``python scripts/check_layout.py [PACKAGE_DIR]``.

Every module of the package is parsed with :mod:`ast` (never imported). An edge is
drawn for every import that names a module of the package, wherever it stands:
module level, inside a function, relative or absolute. ``from pkg import name``
counts as an import of ``pkg.name`` when that is a module, else of ``pkg``.
Imports under ``if TYPE_CHECKING:`` do not run, so they take part in the layer
rule but not in the cycle search. Importing a package's ``__init__`` because one
of its modules was imported is Python's doing, not the importer's, and draws no
edge.

Imports written as strings count too: the first argument of
``importlib.import_module`` / ``__import__`` / ``find_spec`` (relative ones
resolved against the module's package), and in a module with a module-level
``__getattr__`` (PEP 562 lazy re-exports) every string that names a module of
the package (``"pkg.mod"``, ``"pkg.mod:attr"``, ``"pkg.mod.attr"``, ``".mod"``):
the name is imported when first read, so the module depends on it as much as
on an import statement. Such a string naming no module of the package is a
problem too: a re-export left behind by a move fails only when first read.

The layers (DESIGN.md "Layers") are the table below: a module may import modules
of its own layer and of any layer under it, never above. The first matching
prefix names a module's layer. Besides the layers:

- modules of layer ``AIRFLOW_FREE_UP_TO`` and under (clients/, delivery/ and what
  they stand on) import nothing from Airflow, not even inside a function;
- the siblings in ``SIBLINGS`` never import each other (the two vendor SDKs; the
  campaign and certificate cores);
- nothing outside a ``TOOLS`` package imports it (the sandbox: its own launcher,
  demo and test support live in it or outside the package), and neither do the
  example DAGs (``--examples``, by default ``example_dags/`` beside the package):
  users copy them.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINES = 500

#: (module prefix relative to the package, layer). Longest prefixes first where they nest.
LAYERS: tuple[tuple[str, int], ...] = (
    ("__init__", 0),
    ("_lazy", 0),  # the PEP 562 helper of the re-exporting __init__s
    ("clients.errors", 1),
    ("clients._http", 1),
    ("clients._wire", 1),
    ("clients._local_files", 1),
    ("clients._credential_caches", 1),
    ("clients.validation", 1),
    ("clients.phone_numbers", 1),
    ("clients.sms_encoding", 1),
    ("clients.send_at", 1),
    ("clients.mensatek", 2),
    ("clients.legallymail", 2),
    ("clients", 2),  # clients/__init__.py: exports the two vendor clients
    ("delivery", 3),
    ("object_storage", 4),  # to_storage_path: shared by certificates and campaigns, so under neither
    ("certificates", 4),
    ("campaigns", 4),
    ("retry_policy", 6),
    ("hooks", 6),
    ("operators", 7),
    ("sensors", 7),
    ("triggers", 7),
    ("notifications", 7),
    ("webhooks", 7),
    ("get_provider_info", 7),
    # A tool beside the package: it may use the clients' constants; nothing in the package imports it.
    ("sandbox", 8),
)

#: Packages nothing outside themselves may import (relative to the package).
TOOLS = ("sandbox",)

#: Modules of this layer and under never import Airflow: clients/ and delivery/ are usable from plain Python.
AIRFLOW_FREE_UP_TO = 3

#: Siblings that never import each other (relative to the package), by kind: what they share lives under
#: them. The vendor SDKs; the campaign and certificate cores (a campaign is no certificate).
SIBLINGS: dict[str, tuple[str, ...]] = {
    "vendor": ("clients.mensatek", "clients.legallymail"),
    "core": ("campaigns", "certificates"),
}

#: Hand-written modules allowed past MAX_LINES, with the reason. Keep it empty.
OVERSIZE_ALLOWED: dict[str, str] = {}


@dataclass
class Graph:
    package: str
    lines: dict[str, int] = field(default_factory=dict)
    edges: dict[str, set[str]] = field(default_factory=dict)
    type_only: dict[str, set[str]] = field(default_factory=dict)
    #: module -> the Airflow modules it imports (anywhere in it, TYPE_CHECKING included).
    airflow: dict[str, set[str]] = field(default_factory=dict)
    #: module -> modules of the package its strings name that do not exist.
    missing: dict[str, set[str]] = field(default_factory=dict)


def module_name(package_dir: Path, path: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                for child in node.body:
                    inside.update(id(n) for n in ast.walk(child))
    return inside


def _is_airflow(name: str) -> bool:
    return name == "airflow" or name.startswith("airflow.")


def _absolute(name: str, module: str, is_package: bool) -> str:
    """``name`` as an absolute module name; a leading dot is relative to ``module``'s package."""
    level = len(name) - len(name.lstrip("."))
    if not level:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name[level:]] if name[level:] else []))


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The modules of the package, and the Airflow modules, an import statement names."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            if _is_airflow(name):
                yield name
                continue
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                yield name
        return
    parent = _absolute("." * node.level + (node.module or ""), module, is_package)
    if _is_airflow(parent):
        yield parent
        return
    for alias in node.names:
        child = f"{parent}.{alias.name}"
        if child in known:
            yield child
        elif parent in known:
            yield parent


#: A module path as a string: ``pkg.mod``, ``.mod``, ``pkg.mod:attr``.
_DOTTED = re.compile(r"\.*[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?")
_IMPORT_CALLS = frozenset({"import_module", "__import__", "find_spec"})


#: Marks a string naming a module of the package that does not exist (a re-export left behind by a move).
MISSING = "?"


def _named_module(text: str, module: str, is_package: bool, known: set[str],
                  bound: dict[str, set[str]] | None = None) -> str | None:
    """The package (or Airflow) module a string names: the module itself, or with ``bound`` (the top-level
    names of each module) the module of ``mod.attr`` when ``mod`` binds ``attr``.

    A name inside the package that matches nothing comes back as ``MISSING`` + the name.
    """
    name = _absolute(text.partition(":")[0], module, is_package)
    if _is_airflow(name) or name in known:
        return name
    owner, _, attr = name.rpartition(".")
    if bound is not None and owner in known and attr in bound.get(owner, ()):
        return owner
    package = module.split(".")[0]
    return MISSING + name if name.startswith(package + ".") else None


def _bound_names(tree: ast.Module) -> set[str]:
    """The names a module binds at top level (TYPE_CHECKING imports and ``__all__`` included: lazy re-exports)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node in tree.body:
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
                if isinstance(target, ast.Name) and target.id == "__all__" and node.value is not None:
                    names.update(c.value for c in ast.walk(node.value)
                                 if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return names


def _defines_getattr(tree: ast.Module) -> bool:
    """A module-level ``__getattr__`` (PEP 562), defined or assigned (``__getattr__, __dir__ = lazy(...)``)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            return True
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if any(isinstance(n, ast.Name) and n.id == "__getattr__" for n in ast.walk(target)):
                    return True
    return False


def _string_targets(tree: ast.Module, module: str, is_package: bool, package: str,
                    known: set[str], bound: dict[str, set[str]]) -> Iterator[tuple[ast.AST, str]]:
    """(node, module) for the imports written as strings: import_module's argument, lazy re-export tables."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        first = node.args[0]
        if called in _IMPORT_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
            target = _named_module(first.value, module, is_package, known)
            if target:
                yield node, target
    if not _defines_getattr(tree):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _DOTTED.fullmatch(node.value):
            text = node.value
            if text.startswith(".") or text.startswith(package + ".") or _is_airflow(text.partition(":")[0]):
                target = _named_module(text, module, is_package, known, bound)
                if target:
                    yield node, target


def build_graph(package_dir: Path) -> Graph:
    graph = Graph(package=package_dir.name)
    paths = sorted(package_dir.rglob("*.py"))
    names = {module_name(package_dir, p): p for p in paths}
    known = set(names)
    trees: dict[str, ast.Module] = {}
    for name, path in names.items():
        text = path.read_text(encoding="utf-8")
        graph.lines[name] = len(text.splitlines())
        trees[name] = ast.parse(text, filename=str(path))
    bound = {name: _bound_names(tree) for name, tree in trees.items()}
    for name, path in names.items():
        tree = trees[name]
        is_package = path.name == "__init__.py"
        typing_only = _type_checking_nodes(tree)
        found: list[tuple[ast.AST, str]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.extend((node, target) for target in _targets(node, name, is_package, known))
        found.extend(_string_targets(tree, name, is_package, graph.package, known, bound))
        runtime: set[str] = set()
        deferred: set[str] = set()
        airflow: set[str] = set()
        missing: set[str] = set()
        for node, target in found:
            if target.startswith(MISSING):
                missing.add(target[len(MISSING):])
            elif _is_airflow(target):
                airflow.add(target)
            elif target != name:
                (deferred if id(node) in typing_only else runtime).add(target)
        graph.edges[name] = runtime
        graph.type_only[name] = deferred - runtime
        graph.airflow[name] = airflow
        graph.missing[name] = missing
    return graph


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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


def layer_of(package: str, module: str) -> tuple[str, int] | None:
    relative = module[len(package) + 1:] if module != package else "__init__"
    for prefix, layer in LAYERS:
        if relative == prefix or relative.startswith(prefix + "."):
            return prefix, layer
    return None


def _relative(package: str, module: str) -> str:
    return module[len(package) + 1:] if module != package else "__init__"


def _top(package: str, module: str) -> str:
    return _relative(package, module).split(".")[0]


def _sibling(package: str, module: str, group: tuple[str, ...]) -> str | None:
    relative = _relative(package, module)
    return next((v for v in group if relative == v or relative.startswith(v + ".")), None)


def _sibling_import(package: str, module: str, target: str) -> str | None:
    """The kind of siblings ``module`` and ``target`` are, if they are two different ones."""
    for kind, group in SIBLINGS.items():
        here, there = _sibling(package, module, group), _sibling(package, target, group)
        if here and there and here != there:
            return kind
    return None


def problems(graph: Graph, max_lines: int = MAX_LINES) -> Iterable[str]:
    package = graph.package
    for component in cycles(graph.edges):
        yield "cycle: " + " -> ".join(_relative(package, m) for m in component)
    for module, count in sorted(graph.lines.items()):
        relative = _relative(package, module)
        if count > max_lines and relative not in OVERSIZE_ALLOWED:
            yield f"oversize: {relative} has {count} lines (limit {max_lines})"
    for module in sorted(graph.edges):
        here = layer_of(package, module)
        if here is None:
            yield f"unplaced: {_relative(package, module)} is in no layer of the table"
            continue
        for name in sorted(graph.missing[module]):
            yield f"missing module: {_relative(package, module)} names {_relative(package, name)}, which does not exist"
        if here[1] <= AIRFLOW_FREE_UP_TO:
            for airflow in sorted(graph.airflow[module]):
                yield (f"airflow import: {_relative(package, module)} (layer {here[1]}, {here[0]}) imports {airflow} "
                       f"(layers up to {AIRFLOW_FREE_UP_TO} are Airflow-free)")
        for target in sorted(graph.edges[module] | graph.type_only[module]):
            there = layer_of(package, target)
            if there is None:
                continue
            tool = next((t for t in TOOLS if _top(package, target) == t), None)
            sibling = _sibling_import(package, module, target)
            if tool and _top(package, module) != tool:
                yield f"tool import: {_relative(package, module)} imports {_relative(package, target)}"
            elif sibling:
                yield f"{sibling} import: {_relative(package, module)} imports {_relative(package, target)}"
            elif there[1] > here[1]:
                yield (f"upward import: {_relative(package, module)} (layer {here[1]}, {here[0]}) imports "
                       f"{_relative(package, target)} (layer {there[1]}, {there[0]})")


def example_problems(package_dir: Path, examples_dir: Path) -> Iterable[str]:
    """Example DAGs (what users copy) import no tool package (the sandbox)."""
    package = package_dir.name
    paths = {module_name(package_dir, p): p for p in package_dir.rglob("*.py")}
    known = set(paths)
    bound = {name: _bound_names(ast.parse(p.read_text(encoding="utf-8"))) for name, p in paths.items()}
    for path in sorted(examples_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = path.stem
        found = {target for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                 for target in _targets(node, module, False, known)}
        found.update(target for _, target in _string_targets(tree, module, False, package, known, bound))
        for target in sorted(t for t in found if not _is_airflow(t) and not t.startswith(MISSING)):
            if _top(package, target) in TOOLS:
                yield (f"tool import: {path.relative_to(examples_dir.parent)} imports {_relative(package, target)} "
                       f"(examples are what users copy)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", nargs="?", default=str(Path(__file__).resolve().parent.parent
                                                              / "airflow_provider_mensatek"))
    parser.add_argument("--max-lines", type=int, default=MAX_LINES)
    parser.add_argument("--examples", help="folder of example DAGs (default: example_dags/ beside the package)")
    args = parser.parse_args(argv)
    package_dir = Path(args.package_dir)
    examples = Path(args.examples) if args.examples else package_dir.parent / "example_dags"
    graph = build_graph(package_dir)
    found = list(problems(graph, args.max_lines))
    if examples.is_dir():
        found.extend(example_problems(package_dir, examples))
    for problem in found:
        print(problem)
    edges = sum(len(e) for e in graph.edges.values())
    largest = max(graph.lines.items(), key=lambda item: item[1])
    print(f"layout: {len(graph.lines)} modules, {edges} imports, {len(found)} problem(s); largest "
          f"{_relative(graph.package, largest[0])} ({largest[1]} lines, limit {args.max_lines})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
