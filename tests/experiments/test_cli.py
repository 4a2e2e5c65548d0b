"""End-to-end: ``python -m experiments.main --config configs/test.py --workdir DIR``."""

import json
import os
import subprocess
import sys

from tests import ROOT as _ROOT

ROOT = str(_ROOT)


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def test_cli_end_to_end_and_rerun_resumes(tmp_path):
    wd = str(tmp_path / "run")
    out = _run("--config", "configs/test.py:loss=gce", "--workdir", wd, "--config.num_epochs=3")
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(os.listdir(wd)) == [
        "checkpoints",
        "config.json",
        "examples.parquet",
        "metrics.jsonl",
        "summary.json",
    ]
    with open(os.path.join(wd, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["loss"]["name"] == "gce" and cfg["num_epochs"] == 3
    with open(os.path.join(wd, "metrics.jsonl")) as f:
        lines = [json.loads(x) for x in f]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    for key in ("train/loss", "train/acc_noisy", "train/acc_clean", "val/top1", "lr", "time"):
        assert key in lines[-1]
    for k in range(1, 6):
        assert 0.0 <= lines[-1][f"test/top{k}"] <= 1.0
    assert lines[-1]["test/top5"] >= lines[-1]["test/top1"]
    with open(os.path.join(wd, "summary.json")) as f:
        summary = json.load(f)
    assert summary["final"] == lines[-1] and summary["best"]["metric"] == "val/top1"
    assert lines[-1]["test/top1"] > 0.5  # it learns digits despite 20% noise
    progress = [x for x in out.stdout.splitlines() if x.startswith("epoch ")]
    assert len(progress) == 3 and "ETA" in progress[0]

    # Re-running the finished run trains nothing and reports the same numbers.
    again = _run("--config", "configs/test.py:loss=gce", "--workdir", wd, "--config.num_epochs=3")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not [x for x in again.stdout.splitlines() if x.startswith("epoch ")]
    assert json.loads(again.stdout.splitlines()[-1])["test/top1"] == lines[-1]["test/top1"]

    # A different config in the same workdir is refused; a misspelt field fails up front.
    bad = _run("--config", "configs/test.py:loss=ce", "--workdir", wd, "--config.num_epochs=3")
    assert bad.returncode != 0 and "different config" in bad.stderr
    typo = _run("--config", "configs/test.py", "--workdir", wd + "2", "--config.num_epoch=3")
    assert typo.returncode != 0 and "num_epoch" in typo.stderr
    assert not os.path.exists(wd + "2")
    # An old command with a removed field says what replaces it (config.runs).
    old = _run("--config", "configs/test.py", "--workdir", wd + "3", "--config.seeds=(0,1)")
    assert old.returncode != 0 and "config.seeds no longer exists" in old.stderr
    assert "use config.runs" in old.stderr and not os.path.exists(wd + "3")
