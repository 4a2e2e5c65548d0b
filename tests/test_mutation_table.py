"""The mutation table of ``tools/mutate.py`` cannot go stale silently.

Each mutation guards a place in the code with a planted bug that a named test must catch. When a
refactor moves or rewrites that code, the mutation's text no longer matches and the place is
unguarded; this test (cheap: it reads files, imports nothing of the package) fails the suite
until the mutation is retargeted. The mutation pass itself (``make mutants``) is not run here.
"""

import importlib.util
import sys

import pytest

from tests import ROOT


def _load_mutate():
    spec = importlib.util.spec_from_file_location("_mutate", ROOT / "tools" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


mutate = _load_mutate()


def test_every_mutation_matches_its_code_once_and_its_tests_exist():
    problems = mutate.check_table()
    assert not problems, "stale mutations in tools/mutate.py:\n" + "\n".join(problems)
    assert len(mutate.MUTATIONS) >= 80


def test_the_check_flags_each_kind_of_stale_mutation(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("x = 1\ny = x + 1\nz = x + 1\n")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "test_m.py").write_text(
        "def test_adds():\n    pass\n\nclass TestM:\n    def test_other(self):\n        pass\n"
    )
    M = mutate.Mutation
    good = M("ok", "pkg/m.py", "x = 1", "x = 2", ("t/test_m.py",), "adds or other")
    cases = {
        "occurs 0 times": M("gone", "pkg/m.py", "w = 3", "w = 4", ("t/test_m.py",)),
        "occurs 2 times": M("twice", "pkg/m.py", "x + 1", "x - 1", ("t/test_m.py",)),
        "does not parse": M("syntax", "pkg/m.py", "y = x + 1", "y = x +", ("t/test_m.py",)),
        "same text": M("same", "pkg/m.py", "x = 1", "x = 1", ("t/test_m.py",)),
        "file does not exist": M("nofile", "pkg/n.py", "x", "y", ("t/test_m.py",)),
        "test_gone.py does not exist": M(
            "notest", "pkg/m.py", "x = 1", "x = 2", ("t/test_gone.py",)
        ),
        "selects no test": M("nok", "pkg/m.py", "x = 1", "x = 2", ("t/test_m.py",), "missing"),
    }
    assert mutate.check_table([good], root=str(tmp_path)) == []
    for why, bad in cases.items():
        problems = mutate.check_table([good, bad], root=str(tmp_path))
        assert len(problems) == 1 and why in problems[0] and repr(bad.name) in problems[0], why
    assert "used twice" in mutate.check_table([good, good], root=str(tmp_path))[0]


@pytest.mark.parametrize(
    "expr, selected",
    [
        ("adds", True),
        ("ADDS", True),
        ("test_m", True),  # the module's name counts, as in pytest
        ("other", False),
        ("adds and not m.py", False),
        ("(nope or add) and test_", True),
        ("not adds", False),
    ],
)
def test_k_expressions_follow_pytest(expr, selected):
    assert mutate.k_selects(expr, "test_m.py::test_adds") is selected


def test_a_stale_table_stops_the_run_before_any_mutation(monkeypatch, capsys):
    stale = mutate.Mutation("gone", "robustloss/objective.py", "no such text", "x", ())
    monkeypatch.setattr(mutate, "MUTATIONS", [*mutate.MUTATIONS, stale])
    monkeypatch.setattr(mutate, "scratch_copy", lambda *a: pytest.fail("a mutation ran"))
    assert mutate.main(["-m", "gone"]) == 2
    assert "'gone'" in capsys.readouterr().err
