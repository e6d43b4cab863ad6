"""The import graph of ``src/arda`` has no cycle: every module's imports (relative or absolute, at module level,
inside functions or under ``TYPE_CHECKING``) are read with :mod:`ast`, and the graph is sorted topologically."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def import_graph(root: Path) -> dict[str, set[str]]:
    modules: dict[str, tuple[Path, bool]] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if package else parts)] = (path, package)
    graph: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        here = name if package else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[: len(here.split(".")) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    deps.add(full if full in modules else target)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_the_graph_is_read() -> None:
    graph = import_graph(SRC / "arda")
    assert "arda.notifications.node" in graph["arda.notifications.service"]
    assert "arda.notifications.session" in graph["arda.notifications.node"]
    assert "arda.events.catchup" in graph["arda.events.subscriptions"]


def test_no_import_cycle_in_src_arda() -> None:
    graph = import_graph(SRC / "arda")
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert len(order) == len(graph)


def test_a_cycle_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.a"}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        return
    raise AssertionError("the cycle a -> b -> a was not found")


#: What only the service needs (the ``service`` extra). ``cryptography`` is left out: redis-py probes for it.
SERVICE_ONLY = ("aiohttp", "jwt", "prometheus_client", "httptools", "uvloop")


def test_the_bus_and_the_cli_import_no_service_library() -> None:
    """``pip install arda-realtime`` (no extra) is enough for the bus, the sync publisher and the ``arda``
    command's parser: none of them imports a library of the service extra (tests/test_packaging.py proves it
    in a fresh environment without them)."""
    code = (
        "import sys, arda, arda.events, arda.events.sync, arda.cli\n"
        "from arda.events import EventBus, SyncPublisher\n"
        "arda.cli.build_parser()\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVICE_ONLY!r})))\n"
        "import arda.notifications.service\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVICE_ONLY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    light, service = out.splitlines()
    assert light == "[]"
    assert {"aiohttp", "jwt", "prometheus_client", "httptools"} <= set(ast.literal_eval(service))  # the check sees them
