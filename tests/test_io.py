"""robustloss._io: a file is replaced whole or not at all (text, bytes, writer callbacks)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from robustloss._io import atomic_write, write_json
from tests import ROOT


def test_text_bytes_and_callbacks_replace_the_file(tmp_path):
    path = tmp_path / "new" / "a.txt"  # the folder is created
    atomic_write(path, "first")
    atomic_write(str(path), "ünïcode")
    assert path.read_text(encoding="utf-8") == "ünïcode"
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    npy = tmp_path / "x.npy"  # np.save appends .npy to a name without it: the temp name keeps it
    atomic_write(npy, lambda tmp: np.save(tmp, np.arange(3)))
    np.testing.assert_array_equal(np.load(npy), np.arange(3))
    assert sorted(os.listdir(tmp_path)) == ["new", "x.npy"]


def test_a_new_file_gets_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    atomic_write(tmp_path / "atomic", "x")
    assert os.stat(tmp_path / "atomic").st_mode == os.stat(plain).st_mode


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "t.json"
    atomic_write(path, "old")

    def half_then_fail(tmp):
        with open(tmp, "w") as f:
            f.write("ne")
        raise KeyboardInterrupt  # as a Ctrl-C in the middle of a write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["t.json"]
    with pytest.raises(FileNotFoundError, match="wrote no file"):
        atomic_write(path, lambda tmp: None)
    with pytest.raises(TypeError, match="str, bytes or a callback"):
        atomic_write(path, {"a": 1})
    assert path.read_text() == "old"


def test_a_killed_writer_leaves_the_old_file(tmp_path):
    """A process killed in the middle of a write (os._exit: no cleanup runs) leaves the old
    content; only a hidden temporary file remains."""
    path = tmp_path / "state.json"
    write_json(path, {"epoch": 1})
    code = (  # the module alone (standard library only), without the package's JAX import
        "import importlib.util, os, sys\n"
        "spec = importlib.util.spec_from_file_location('io_', sys.argv[2])\n"
        "io_ = importlib.util.module_from_spec(spec); spec.loader.exec_module(io_)\n"
        "def w(tmp):\n"
        "    open(tmp, 'w').write('{\"epo')\n"
        "    os._exit(9)\n"
        "io_.atomic_write(sys.argv[1], w)\n"
    )
    module = str(ROOT / "robustloss" / "_io.py")
    out = subprocess.run([sys.executable, "-c", code, str(path), module], check=False)
    assert out.returncode == 9
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert all(n == "state.json" or n.startswith(".state.json.") for n in os.listdir(tmp_path))


def test_write_json_format(tmp_path):
    path = tmp_path / "s.json"
    write_json(path, {"b": 1, "a": {"d": 2, "c": [3]}})
    assert path.read_text() == '{\n "a": {\n  "c": [\n   3\n  ],\n  "d": 2\n },\n "b": 1\n}\n'
    write_json(path, {"p": tmp_path}, default=str)
    assert json.loads(path.read_text()) == {"p": str(tmp_path)}
