"""Test setup: run JAX on CPU with 4 simulated devices so data-parallel paths are exercised.

Tests pick 1, 2 or 4 of these devices explicitly (more than 4 can stall in collectives on 2
cores, docs/design.md §11). The flag must be set before JAX initialises its backend.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flag = "--xla_force_host_platform_device_count=4"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()


# The test files of the library tier (losses, stateful, objective, options, registry, noise,
# transition): they need only the core dependencies (jax, numpy, optax; scipy comes with jax).
# `make test` runs them with `--tier=library` against the library installed without extras on
# Python 3.12 and 3.13; a test in them that needs an extra is marked `harness` and left out there.
# tests/test_layering.py keeps this list honest: these files import nothing else (outside
# `harness` tests), and every other test file imports something outside the library tier.
LIBRARY_TESTS = (
    "tests/losses",
    "tests/noise",
    "tests/transition",
    "tests/test_options.py",
    "tests/test_registry.py",
    "tests/test_stateful.py",
)
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_library_test(path) -> bool:
    """Whether the test file ``path`` is in (a folder of) `LIBRARY_TESTS`."""
    rel = os.path.relpath(os.path.abspath(path), _ROOT).replace(os.sep, "/")
    return any(rel == p or rel.startswith(p + "/") for p in LIBRARY_TESTS)


def pytest_addoption(parser):
    parser.addoption(
        "--tier",
        choices=("all", "library"),
        default="all",
        help="library: only the library tier's tests (LIBRARY_TESTS, less `harness` tests), "
        "which need no extra installed",
    )


def pytest_ignore_collect(collection_path, config):
    if config.getoption("tier") != "library" or collection_path.is_dir():
        return None
    if collection_path.name.startswith("test_") and collection_path.suffix == ".py":
        return None if is_library_test(collection_path) else True
    return None


def pytest_collection_modifyitems(config, items):
    if config.getoption("tier") != "library":
        return
    harness = [it for it in items if it.get_closest_marker("harness")]
    if harness:
        config.hook.pytest_deselected(items=harness)
        items[:] = [it for it in items if not it.get_closest_marker("harness")]


def pytest_report_header(config):
    import robustloss

    return f"tier: {config.getoption('tier')}; robustloss from {robustloss.__file__}"
