"""The import graph is layered (docs/design.md): no module imports one from a higher layer.

Tiers: the library (``losses`` -> ``objective``/``options`` -> ``stateful`` -> ``registry`` ->
``noise``, ``transition``), the harness (``data``, ``models`` -> ``training``) and the study
(``sweep`` -> ``report``), then ``experiments``/``configs`` (not part of the package).
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "robustloss"

# Layer of each top-level part of the package; an import may only go to the same or a lower one.
LAYERS = {
    "robustloss._io": 0,  # standard library only: atomic writes
    "robustloss._fields": 0,  # standard library only: dotted config fields
    "robustloss.losses": 0,
    "robustloss.options": 1,
    "robustloss.objective": 1,
    "robustloss.stateful": 2,
    "robustloss.registry": 3,
    "robustloss": 3,  # the package __init__ re-exports the registry
    "robustloss.noise": 4,
    "robustloss.transition": 4,
    "robustloss.data": 5,
    "robustloss.models": 5,
    "robustloss.training": 6,
    "robustloss.sweep": 7,
    "robustloss.report": 8,
}
# Parts allowed function-local imports of the package. robustloss.sweep has some (of the harness);
# they are tolerated, not needed: `import robustloss.sweep` loads JAX anyway (the package face
# does) and the harness too (plan.PACKABLE reads training.runs.RUN_FIELDS at import time), and the
# workers do not depend on what the driver imported: they are spawned processes (or Ray tasks)
# that start with their XLA/thread variables in the environment (executors.thread_env;
# tests/sweep/test_engines.py::test_local_pool_retries_a_killed_worker sees them in a worker
# although the test process imported JAX first).
LAZY_IMPORTS_OK = {"robustloss.sweep"}
# Which parts of one layer may import which (same layer, but a fixed direction).
# (``from robustloss import losses`` names the package face, which re-exports the registry.)
SAME_LAYER_OK = {("robustloss", "robustloss.registry"), ("robustloss.registry", "robustloss")}


def _part(module: str) -> str:
    """The LAYERS key a module belongs to (its longest matching prefix)."""
    best = ""
    for key in LAYERS:
        if (module == key or module.startswith(key + ".")) and len(key) > len(best):
            best = key
    return best


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: pathlib.Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every import of ``path``."""
    tree = ast.parse(path.read_text())
    out = []
    func_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    func_lines.add(sub.lineno)
    package = _module_name(path) if path.is_relative_to(ROOT) else path.stem
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((alias.name, node.lineno, node.lineno in func_lines))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, node.lineno, node.lineno in func_lines))
    return out


def _package_files():
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [_module_name(p) for p in _package_files() if not _part(_module_name(p))]
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_imports_only_go_down():
    bad = []
    for path in _package_files():
        src = _part(_module_name(path))
        for mod, line, _ in _imports(path):
            if not mod.startswith("robustloss"):
                continue
            dst = _part(mod)
            if LAYERS[dst] > LAYERS[src]:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({src}) imports {mod} ({dst})")
            elif LAYERS[dst] == LAYERS[src] and src != dst:
                if (src, dst) not in SAME_LAYER_OK:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {src} imports {dst}")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_no_function_local_imports_of_the_package():
    """Function-local imports of our own modules only ever served to break cycles."""
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {mod}"
        for path in _package_files()
        for mod, line, local in _imports(path)
        if local
        and mod.startswith("robustloss")
        and _part(_module_name(path)) not in LAZY_IMPORTS_OK
    ]
    assert not bad, "\n".join(bad)


def test_the_checks_see_a_planted_upward_import(tmp_path):
    """The AST walk finds relative and absolute imports, inside functions too."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from robustloss.training import train\n")
    assert _imports(src) == [("robustloss.training", 2, True)]


@pytest.mark.parametrize("module", ["robustloss.losses", "robustloss.transition", "robustloss"])
def test_library_layers_load_no_harness_packages(module):
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('flax', 'orbax', 'ml_collections', 'tensorflow_datasets') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", f"importing {module} loaded {out.stdout.strip()}"
