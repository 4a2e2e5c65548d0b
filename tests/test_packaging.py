"""pyproject.toml's ranges and the lock file `make test` installs agree: the lock satisfies every
range, and each lower bound is the locked version (the oldest version tested)."""

import pathlib
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock-py311.txt"
LOCKED_EXTRAS = ("train", "study", "ray", "test")  # the Makefile's `lock` target


def _pins(text: str) -> dict[str, Version]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
            assert m, f"{LOCK.name}: not a pin: {line!r}"
            pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def _direct_requirements(project: dict) -> list[Requirement]:
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in LOCKED_EXTRAS:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return [r for r in reqs if canonicalize_name(r.name) != "robustloss"]


def _problems(project: dict, pins: dict[str, Version]) -> list[str]:
    bad = []
    for req in _direct_requirements(project):
        name = canonicalize_name(req.name)
        if name not in pins:
            bad.append(f"{req} is not in the lock (run `make lock`)")
            continue
        if pins[name] not in req.specifier:
            bad.append(f"the lock's {name}=={pins[name]} is outside {req} (run `make lock`)")
        lower = [s for s in req.specifier if s.operator in (">=", "==")]
        if len(lower) != 1 or Version(lower[0].version) != pins[name]:
            bad.append(f"{req}: its lower bound must be the locked (tested) {pins[name]}")
    return bad


def test_the_lock_satisfies_every_range_and_pins_its_lower_bound():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins(LOCK.read_text())
    assert {"jax", "jaxlib", "optax", "flax", "pandas", "ray", "pytest"} <= set(pins)
    assert not (bad := _problems(project, pins)), "\n".join(bad)


def test_the_check_sees_a_stale_lock_and_an_untested_lower_bound():
    project = {
        "dependencies": ["jax>=0.10.2", "numpy>=2.0", "optax>=0.3"],
        "optional-dependencies": {e: [] for e in LOCKED_EXTRAS} | {"test": ["pytest"]},
    }
    pins = _pins("jax==0.10.2\nnumpy==2.4.6\noptax==0.2.8\n")
    assert _problems(project, pins) == [
        "numpy>=2.0: its lower bound must be the locked (tested) 2.4.6",
        "the lock's optax==0.2.8 is outside optax>=0.3 (run `make lock`)",
        "optax>=0.3: its lower bound must be the locked (tested) 0.2.8",
        "pytest is not in the lock (run `make lock`)",
    ]
