"""How often a config crosses files, and how often it is copied, on its way through ``train()``.

A structure count, not a timing: deterministic, so it can be taken on a loaded machine.
``sys.setprofile`` sees every Python call made during one ``robustloss.training.train(config,
workdir)`` (validation, data loading, trainer building, initial state, the epoch loop and its
evaluations, the workdir) and counts:

* **file crossings**: calls from a function in one file under ``robustloss/`` to a function in
  *another* file under ``robustloss/`` that receive the config -- an argument that is a
  ``ConfigDict`` (``FrozenConfigDict`` included) or an object holding one as an attribute (a run
  plan). Counted per callee file too (``training/build.py``: how often the config re-enters it).
* **calls with the config**: every call of a ``robustloss/`` function that receives it (same
  test), within a file or across.
* **whole-config copies**: calls made from ``robustloss/`` code of ``copy.deepcopy``,
  ``ConfigDict.to_dict``, ``ConfigDict.copy_and_resolve_references`` or the ``ConfigDict`` /
  ``FrozenConfigDict`` constructor whose source is a whole run config (a ``ConfigDict`` or dict
  with both ``dataset`` and ``loss`` groups); copies of one group (``config.noise.to_dict()``)
  are counted apart as group copies.

Programs (each trained once, 1 epoch, in a temporary workdir, on CPU):

* ``test_1``: ``configs/test.py`` (digits, ffnn): one run;
* ``test_2``: ``configs/test.py:seeds=0/1``: 2 packed runs;
* ``letter_35``: the LDR paper's Letter CE program: 7 noise settings x 5 folds = 35 cells of
  ``configs/paper/ldr_icml2023.py:letter`` packed by the sweep planner into one program of 35
  runs (``docs/sweeps.md``), 1 epoch, ``dataset.max_train=1000`` so the epoch is short.

Usage (from the repository root)::

    JAX_PLATFORMS=cpu python bench/config_trace.py [--programs test_1,test_2,letter_35] [--json F]
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "robustloss") + os.sep
sys.path.insert(0, ROOT)


def _rel(path: str) -> str:
    return os.path.relpath(path, os.path.join(ROOT, "robustloss"))


def _is_config(x, config_types) -> bool:
    if isinstance(x, config_types):
        return True
    # An object carrying a config as an attribute (e.g. a run plan); not arrays, not dicts.
    d = getattr(x, "__dict__", None)
    if isinstance(d, dict) and not isinstance(x, type):
        return any(isinstance(v, config_types) for v in d.values())
    return False


def _whole(x) -> bool:
    try:
        return "dataset" in x and "loss" in x
    except TypeError:
        return False


class Tracer:
    """The ``sys.setprofile`` hook (see the module docstring)."""

    def __init__(self):
        import ml_collections

        self.config_types = (ml_collections.ConfigDict,)
        self.crossings = 0
        self.into = collections.Counter()
        self.pairs = collections.Counter()
        self.calls = 0
        self.copies = collections.Counter()
        self.group_copies = 0
        cd = ml_collections.ConfigDict
        self.copy_codes = {
            copy.deepcopy.__code__: "x",
            cd.to_dict.__code__: "self",
            cd.copy_and_resolve_references.__code__: "self",
            cd.__init__.__code__: "initial_dictionary",
            ml_collections.FrozenConfigDict.__init__.__code__: "initial_dictionary",
        }

    def __call__(self, frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        caller = frame.f_back
        if caller is None or not caller.f_code.co_filename.startswith(PKG):
            return
        source = self.copy_codes.get(code)
        if source is not None:
            x = frame.f_locals.get(source)
            if x is not None and code.co_name == "__init__" and not len(x):
                return
            if x is not None and _whole(x):
                self.copies[code.co_qualname] += 1
            elif x is not None and isinstance(x, self.config_types + (dict,)):
                self.group_copies += 1
            return
        callee = code.co_filename
        if not callee.startswith(PKG):
            return
        args = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        f_locals = frame.f_locals
        if not any(_is_config(f_locals.get(a), self.config_types) for a in args):
            return
        self.calls += 1
        src = caller.f_code.co_filename
        if src != callee:
            self.crossings += 1
            self.into[_rel(callee)] += 1
            self.pairs[f"{_rel(src)} -> {_rel(callee)}"] += 1

    def report(self) -> dict:
        return {
            "file_crossings": self.crossings,
            "crossings_into": dict(self.into.most_common()),
            "crossings_by_pair": dict(self.pairs.most_common()),
            "calls_with_config": self.calls,
            "whole_config_copies": sum(self.copies.values()),
            "whole_config_copies_by_kind": dict(self.copies),
            "group_copies": self.group_copies,
        }


def _test(arg: str):
    from configs import test

    return test.get_config(arg)


def _letter_35():
    import ml_collections

    from configs.paper import ldr_icml2023 as ldr
    from robustloss.sweep import cells_from_grid, plan_programs, product

    grid = product(loss=["ce"], setting=list(ldr.SETTINGS), fold=list(range(ldr.NUM_FOLDS)))
    cells = cells_from_grid(ldr.get_config, grid, "letter,epochs=1,dataset.max_train=1000")
    (program,) = plan_programs(cells)
    assert program.num_runs == 35, program.num_runs
    return ml_collections.ConfigDict(program.config)


PROGRAMS = {
    "test_1": lambda: _test("epochs=1"),
    "test_2": lambda: _test("epochs=1,seeds=0/1"),
    "letter_35": _letter_35,
}


def measure(name: str) -> dict:
    from robustloss.training import train

    config = PROGRAMS[name]()
    with tempfile.TemporaryDirectory() as wd:
        tracer = Tracer()
        sys.setprofile(tracer)
        try:
            summary = train(config, wd, log=lambda s: None)
        finally:
            sys.setprofile(None)
    assert summary["complete"], name
    return tracer.report()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--programs", default=",".join(PROGRAMS))
    p.add_argument("--json", default="", help="also write the counts to this file")
    a = p.parse_args()
    out = {}
    for name in a.programs.split(","):
        out[name] = r = measure(name)
        print(
            f"{name}: {r['file_crossings']} file crossings with the config "
            f"(into training/build.py: {r['crossings_into'].get('training/build.py', 0)}), "
            f"{r['calls_with_config']} calls with it, {r['whole_config_copies']} whole-config "
            f"copies, {r['group_copies']} group copies",
            flush=True,
        )
    print(json.dumps(out, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
