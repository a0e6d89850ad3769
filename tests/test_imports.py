"""The import graph: no circle inside a package (ddpm.data dispatches to ddpm.sources, which import the data set type
from ddpm.images, not back from the loader), and no private name (a leading underscore) imported from another
module: what another module needs is public where it is defined."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ddpm", "diagnostics", "demo", "bench", "tools")


def import_graph(package: str) -> dict[str, set[str]]:
    """module -> the modules of `package` it imports, lazily inside functions included (read with ast). Importing
    a.b.c also runs a and a.b; a module's own packages are already running when it executes, so they are no edge."""
    pkg = ROOT / package
    mods = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in pkg.rglob("*.py")}
    graph = {}
    for name, path in mods.items():
        own_pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found = []
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(own_pkg.split(".")[:len(own_pkg.split(".")) - node.level + 1] + ([base] if base else []))
                found = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in found:
                for i in range(1, t.count(".") + 2):        # the module and every package above it
                    prefix = ".".join(t.split(".")[:i])
                    if prefix in mods and prefix != name and prefix not in ancestors:
                        targets.add(prefix)
        graph[name] = targets
    return graph


@pytest.mark.parametrize("package", ["ddpm", "diagnostics", "demo"])
def test_no_import_circle(package):
    graph = import_graph(package)
    if package == "diagnostics":
        assert "diagnostics.checks" in graph["diagnostics.plots"]      # the graph sees package imports
    if package == "ddpm":
        assert "ddpm.images" in graph["ddpm.sources.folder"] and "ddpm.sources" in graph["ddpm.data"]
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                cycles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = "done"
    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles)


def test_no_private_name_is_imported_from_another_module():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                    found += [f"{path.relative_to(ROOT)}:{node.lineno} imports {a.name} from "
                              f"{'.' * node.level}{node.module or ''}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == [], "make these public where they are defined:\n" + "\n".join(found)
