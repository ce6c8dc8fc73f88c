"""The module graph: no import cycles (deferred imports counted too), artface_align stands alone, and
every module imports on its own."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in ("artface", "artface_align"):
        for p in (ROOT / pkg).rglob("*.py"):
            if p.name.startswith("test_") or p.name == "__main__.py" or "fixtures" in p.parts:
                continue
            rel = p.relative_to(ROOT).with_suffix("")
            out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = p
    return out


def _graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):  # anywhere: a deferred import is an edge too
            if isinstance(node, ast.ImportFrom):
                base = name.split(".")
                if node.level:
                    base = base[: len(base) - node.level + (path.name == "__init__.py")]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                deps.update(t for t in [target, *(f"{target}.{a.name}" for a in node.names)] if t in mods)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
        graph[name] = deps - {name} - {p for p in deps if name.startswith(p + ".")}  # a package's own __init__
    return graph


def test_no_import_cycles_and_artface_align_stands_alone():
    graph = _graph(_modules())
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(v: str, path: list[str]) -> None:
        state[v] = 1
        for w in sorted(graph[v]):
            assert state.get(w) != 1, f"import cycle: {' -> '.join([*path, v, w])}"
            if w not in state:
                visit(w, [*path, v])
        state[v] = 2
        order.append(v)

    for v in sorted(graph):
        if v not in state:
            visit(v, [])
    leaks = {m: sorted(d for d in deps if d.startswith("artface.") or d == "artface")
             for m, deps in graph.items() if m.startswith("artface_align")}
    assert not any(leaks.values()), leaks


def test_every_module_imports_alone():
    from concurrent.futures import ThreadPoolExecutor

    code = "import importlib, sys\nimportlib.import_module(sys.argv[1])\n"

    def alone(n: str) -> tuple[str, subprocess.CompletedProcess]:  # a fresh interpreter: nothing imported before it
        return n, subprocess.run([sys.executable, "-c", code, n], capture_output=True, text=True, cwd=ROOT, timeout=120)

    with ThreadPoolExecutor(4) as pool:
        for n, res in pool.map(alone, sorted(_modules())):
            assert res.returncode == 0, f"{n}: {res.stderr[-800:]}"


def test_readme_datasets_table_is_generated_from_the_dataset_folders():
    """The README's table is `artface list --markdown`: a dataset's description lives in its card.md only."""
    from artface.builders import builder_class, names
    from artface.cli import datasets_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert datasets_table() in readme, "README's dataset table is stale: paste `artface list --markdown`"
    for name in names():
        cls = builder_class(name)
        card = (cls.FOLDER / "card.md").read_text()
        assert cls.DATASET_NAME == name == cls.FOLDER.name and cls.DESCRIPTION
        assert cls.DESCRIPTION.split(" (")[0] in card, "the description is the card's first paragraph"


def test_the_version_is_read_from_one_module():
    import tomllib

    from artface._version import __version__

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__
    users = [p for p in (ROOT / "artface").rglob("*.py") if "import __version__" in p.read_text()]
    assert all("from ._version import" in p.read_text() or "from .._version import" in p.read_text()
               for p in users if p.name != "_version.py"), users
