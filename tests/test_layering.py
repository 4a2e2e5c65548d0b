"""The import graph is layered (docs/design.md): no module imports one from a higher layer.

Tiers: the library (``losses`` -> ``objective``/``options`` -> ``stateful`` -> ``registry`` ->
``noise``, ``transition``), the harness (``data``, ``models`` -> ``training``) and the study
(``sweep`` -> ``report``), then ``experiments``/``configs`` (not part of the package). Each tier
imports only the packages its install brings (pyproject.toml: the dependencies, then the extras
``train`` and ``study``/``ray``), and the library's tests run on it alone (tests/conftest.py).
"""

import ast
import os
import pathlib
import re
import subprocess
import sys
import tomllib

from tests.conftest import LIBRARY_TESTS, is_library_test

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

# The install tier of each part (README "Install"): ``pip install robustloss`` (the library),
# the extra ``[train]`` (the harness), the extras ``[study]``/``[ray]`` (the study tools).
TIERS = ("library", "harness", "study")
TIER = {
    "robustloss._io": "library",
    "robustloss._fields": "library",
    "robustloss.losses": "library",
    "robustloss.options": "library",
    "robustloss.objective": "library",
    "robustloss.stateful": "library",
    "robustloss.registry": "library",
    "robustloss": "library",
    "robustloss.noise": "library",
    "robustloss.transition": "library",
    "robustloss.data": "harness",
    "robustloss.models": "harness",
    "robustloss.training": "harness",
    "robustloss.sweep": "study",
    "robustloss.report": "study",
}
# pyproject.toml's lists that each tier installs (an extra may name another: robustloss[train]).
TIER_INSTALLS = {"library": (), "harness": ("train",), "study": ("train", "study", "ray")}
# Packages a tier may import without declaring them: jax requires scipy (``Requires-Dist:
# scipy>=1.14`` and ml_dtypes of jax 0.10.2); robustloss.noise.instance_dependent imports
# scipy.stats, the pretrained-weight reader ml_dtypes (bfloat16).
COMES_WITH = {"scipy": "jax", "jaxlib": "jax", "ml-dtypes": "jax"}
# Optional extras outside every tier's install: a module may import their package only where
# it tells the user the install command (``pip install 'robustloss[<extra>]'``) on failure.
OPTIONAL_EXTRAS = {"tensorboard": "tensorboard", "wandb": "wandb"}
# Import names whose distribution is named otherwise.
DISTRIBUTION = {
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "absl": "absl-py",
    "orbax": "orbax-checkpoint",
}
# The extras' packages, none of which ``import robustloss`` or a library module may load.
EXTRA_PACKAGES = (
    "flax",
    "orbax",
    "ml_collections",
    "tensorflow_datasets",
    "sklearn",
    "rdata",
    "PIL",
    "pandas",
    "pyarrow",
    "duckdb",
    "matplotlib",
    "ray",
)


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


def _tier(module: str) -> str:
    return TIER[_part(module)]


def _tier_violations(files: dict[str, pathlib.Path]) -> list[str]:
    """Imports of ``files`` (module name -> path) that go to a higher tier."""
    bad = []
    for name, path in files.items():
        src = _tier(name)
        for mod, line, _ in _imports(path):
            if mod == "robustloss" or mod.startswith("robustloss."):
                dst = _tier(mod)
                if TIERS.index(dst) > TIERS.index(src):
                    bad.append(f"{name}:{line} ({src}) imports {mod} ({dst})")
    return bad


def test_every_layer_has_a_tier_and_the_tiers_follow_the_layers():
    assert set(TIER) == set(LAYERS)
    assert set(TIER.values()) == set(TIERS)
    for lower, higher in zip(TIERS, TIERS[1:], strict=False):
        top = max(LAYERS[p] for p, t in TIER.items() if t == lower)
        bottom = min(LAYERS[p] for p, t in TIER.items() if t == higher)
        assert top < bottom, f"a {lower} layer is not below every {higher} layer"


def test_no_tier_imports_a_higher_tier():
    """The library imports nothing of the harness or study; the harness nothing of the study
    (function-local imports included)."""
    bad = _tier_violations({_module_name(p): p for p in _package_files()})
    assert not bad, "imports of a higher tier:\n" + "\n".join(bad)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: list[str], extras: dict[str, list[str]]) -> set[str]:
    """Distribution names of ``requirements``, with ``robustloss[extra]`` expanded."""
    out: set[str] = set()
    for req in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", req).group(0)
        if _normalise(name) == "robustloss":
            for extra in re.search(r"\[(.*?)\]", req).group(1).split(","):
                out |= _declared(extras[extra.strip()], extras)
        else:
            out.add(_normalise(name))
    return out


def _tier_packages() -> dict[str, set[str]]:
    """The distributions each tier's install brings (pyproject.toml), cumulatively."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    base = _declared(project["dependencies"], extras)
    return {
        tier: base | _declared([f"robustloss[{e}]" for e in names], extras) if names else base
        for tier, names in TIER_INSTALLS.items()
    }


def _third_party(module: str) -> str | None:
    """The distribution an import needs, or None for the standard library and robustloss."""
    top = module.split(".")[0]
    if not top or top == "robustloss" or top in sys.stdlib_module_names:
        return None
    return _normalise(DISTRIBUTION.get(top, top))


def _undeclared_imports(files: dict[str, pathlib.Path], installs: dict[str, set[str]]):
    bad = []
    for name, path in files.items():
        tier = _tier(name)
        for mod, line, _ in _imports(path):
            dist = _third_party(mod)
            if dist is None or dist in installs[tier]:
                continue
            if dist in COMES_WITH and COMES_WITH[dist] in installs[tier]:
                continue
            extra = OPTIONAL_EXTRAS.get(dist)
            if extra and f"pip install 'robustloss[{extra}]'" in path.read_text():
                continue
            bad.append(f"{name}:{line} ({tier}) imports {mod}: {dist} is not in its install")
    return bad


def test_each_tier_imports_only_what_its_install_brings():
    """Third-party imports (function-local too) of each tier are declared for that tier in
    pyproject.toml: the library needs jax, numpy, optax only."""
    installs = _tier_packages()
    assert installs["library"] == {"jax", "numpy", "optax"}
    bad = _undeclared_imports({_module_name(p): p for p in _package_files()}, installs)
    assert not bad, "\n".join(bad)


def test_the_tier_checks_see_planted_imports(tmp_path):
    """An upward import (inside a function too) and an extra's package in the library fail."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import flax.linen as nn\n"
        "def f():\n"
        "    from robustloss.training import train\n"
        "    from robustloss.sweep import results\n"
    )
    files = {"robustloss.losses._planted": planted, "robustloss.data._planted": planted}
    assert _tier_violations(files) == [
        "robustloss.losses._planted:3 (library) imports robustloss.training (harness)",
        "robustloss.losses._planted:4 (library) imports robustloss.sweep (study)",
        "robustloss.data._planted:4 (harness) imports robustloss.sweep (study)",
    ]
    bad = _undeclared_imports(files, _tier_packages())
    assert bad == [
        "robustloss.losses._planted:1 (library) imports flax.linen: flax is not in its install"
    ]
    # an optional extra's package: only with the install command for the user
    bare = tmp_path / "bare.py"
    bare.write_text("def f():\n    import wandb\n")
    hinted = tmp_path / "hinted.py"
    hinted.write_text(bare.read_text() + "HINT = \"pip install 'robustloss[wandb]'\"\n")
    files = {"robustloss.report._bare": bare, "robustloss.report._hinted": hinted}
    assert _undeclared_imports(files, _tier_packages()) == [
        "robustloss.report._bare:2 (study) imports wandb: wandb is not in its install"
    ]


_LOADS = """
import importlib, sys
extra = {extra!r}
for module in {modules!r}:
    before = set(sys.modules)
    importlib.import_module(module)
    loaded = sorted({{m.split(".")[0] for m in set(sys.modules) - before}} & set(extra))
    if loaded:
        print(module, "loads", loaded)
"""


def _loads_extra_packages(modules, path=()) -> str:
    """What a fresh interpreter prints: each of ``modules`` (imported in turn) that loads one of
    `EXTRA_PACKAGES`, with the packages (the first importer of a package is named)."""
    code = _LOADS.format(extra=EXTRA_PACKAGES, modules=list(modules))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, path), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_the_library_loads_no_extra_package():
    """In a fresh interpreter ``import robustloss`` and then each library module (every file)
    loads none of flax, orbax, ml_collections, tensorflow_datasets, pandas, pyarrow, duckdb,
    matplotlib (nor sklearn, rdata, PIL, ray)."""
    modules = ["robustloss"] + [
        _module_name(p) for p in _package_files() if _tier(_module_name(p)) == "library"
    ]
    assert len(modules) > 20
    assert _loads_extra_packages(modules) == ""


def test_the_load_check_sees_a_planted_import(tmp_path):
    (tmp_path / "planted_tier_mod.py").write_text("import ml_collections\n")
    got = _loads_extra_packages(["planted_tier_mod"], path=[tmp_path])
    assert got == "planted_tier_mod loads ['ml_collections']"


# ---------------------------------------------------------------- the library tier's test files

LIBRARY_TEST_PACKAGES = {"pytest", "jax", "numpy", "optax", "scipy"}


def _test_files():
    return sorted((ROOT / "tests").rglob("test_*.py"))


def _is_harness_marker(node: ast.expr) -> bool:
    return "harness" in ast.unparse(node) and "mark" in ast.unparse(node)


def _test_file_imports(path: pathlib.Path):
    """``(module, line, needs_library_only)`` for each import of a test file: False inside a
    function or class marked ``harness`` (or a file with ``pytestmark`` naming it)."""
    tree = ast.parse(path.read_text())
    marked_file = any(
        isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
        and _is_harness_marker(n.value)
        for n in tree.body
    )
    out = []

    def visit(node, library_only):
        for child in ast.iter_child_nodes(node):
            lib = library_only
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                lib = lib and not any(_is_harness_marker(d) for d in child.decorator_list)
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, lib) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                out.append((("." if child.level else "") + (child.module or ""), child.lineno, lib))
            visit(child, lib)

    visit(tree, not marked_file)
    return out


def _library_safe(module: str) -> bool:
    """Whether the library install (plus pytest) can import ``module``."""
    if module.startswith("."):
        return False  # the tests package (tests/__init__.py): run from the repository
    top = module.split(".")[0]
    if top == "robustloss":
        return _tier(module) == "library"
    return top in sys.stdlib_module_names or top in LIBRARY_TEST_PACKAGES


def _shown(path: pathlib.Path) -> pathlib.Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _library_test_violations(paths) -> list[str]:
    return [
        f"{_shown(path)}:{line} imports {mod}, which the library alone lacks: mark the "
        "test @pytest.mark.harness or move it out of LIBRARY_TESTS (tests/conftest.py)"
        for path in paths
        for mod, line, library_only in _test_file_imports(path)
        if library_only and not _library_safe(mod)
    ]


def test_library_test_files_import_only_the_library():
    """The files `make test` runs on the library alone (3.12, 3.13) import only the library
    tier, its dependencies, pytest and the standard library, outside `harness` tests."""
    files = [p for p in _test_files() if is_library_test(p)]
    assert len(files) >= len(LIBRARY_TESTS)
    assert not (bad := _library_test_violations(files)), "\n".join(bad)


def test_every_other_test_file_needs_more_than_the_library():
    """A test file outside LIBRARY_TESTS imports something the library install lacks (at its
    top), or it belongs in LIBRARY_TESTS."""
    lonely = [
        str(p.relative_to(ROOT))
        for p in _test_files()
        if not is_library_test(p)
        and all(_library_safe(mod) for mod, _, lib in _test_file_imports(p) if lib)
    ]
    assert not lonely, f"add to LIBRARY_TESTS in tests/conftest.py: {lonely}"


def test_the_library_test_check_sees_planted_imports(tmp_path):
    planted = tmp_path / "test_planted.py"
    planted.write_text(
        "import pytest\n"
        "from robustloss.transition import make_objective\n"
        "from robustloss.training import default_config\n"
        "@pytest.mark.harness\n"
        "def test_a():\n"
        "    import orbax.checkpoint\n"
        "def test_b():\n"
        "    from configs import test\n"
        "    from . import ROOT\n"
    )
    bad = _library_test_violations([planted])
    assert [b.split(",")[0] for b in bad] == [
        f"{planted}:3 imports robustloss.training",
        f"{planted}:8 imports configs",
        f"{planted}:9 imports .",
    ]
