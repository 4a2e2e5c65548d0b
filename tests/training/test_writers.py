"""Metric writers: metrics.jsonl as before, TensorBoard event files equal to it (also after a kill
and a resume, and per cell of a sweep), HParams summaries, and the config checks."""

import glob
import json
import os

import numpy as np
import pytest

from configs import test as test_config
from robustloss.training import train, validate_config
from robustloss.training.workdir import Workdir
from robustloss.training.writers import JsonlWriter, TensorBoardWriter, flat_hparams, make_writers

pytest.importorskip("tensorboard", reason="the [tensorboard] extra is not installed")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.backend.event_processing.event_file_loader import (  # noqa: E402
    LegacyEventFileLoader,
)
from tensorboard.plugins.hparams import metadata as hp_metadata  # noqa: E402


def read_events(logdir: str) -> tuple[dict, dict]:
    """``({(tag, step): [values...]}, hparams)`` from every event file of ``logdir`` (raw: each
    written point once per write, so a duplicate shows as two values)."""
    points: dict = {}
    hparams: dict = {}
    files = sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*")))
    for path in files:
        for event in LegacyEventFileLoader(path).Load():  # as written, not migrated
            for v in event.summary.value:
                if v.tag == hp_metadata.SESSION_START_INFO_TAG:
                    content = v.metadata.plugin_data.content
                    info = hp_metadata.parse_session_start_info_plugin_data(content)
                    for k, val in info.hparams.items():
                        hparams[k] = getattr(val, val.WhichOneof("kind"))
                    continue
                value = v.simple_value if v.HasField("simple_value") else None
                points.setdefault((v.tag, event.step), []).append(value)
    return points, hparams


def assert_matches_jsonl(logdir: str, records: list[dict], run: int | None = None) -> dict:
    """Every number of ``records`` (value ``run`` of lists) is in ``logdir`` exactly once at its
    epoch, as float32, and TensorBoard holds nothing else; returns the hparams."""
    points, hparams = read_events(logdir)
    want = {}
    for r in records:
        for k, v in r.items():
            if k == "epoch":
                continue
            v = v[run] if run is not None and isinstance(v, list) else v
            want[(k, r["epoch"])] = float(np.float32(v))
    twice = sorted(k for k, vals in points.items() if len(vals) > 1)
    assert not twice, f"points written more than once: {twice[:5]}"
    got = {k: vals[0] for k, vals in points.items()}
    assert set(got) == set(want), sorted(set(got) ^ set(want))[:10]
    for k, v in want.items():
        assert got[k] == v or (np.isnan(v) and np.isnan(got[k])), (k, got[k], v)
    return hparams


def _jsonl(path):
    with open(path) as f:
        return [json.loads(x) for x in f]


def test_jsonl_writer_writes_todays_lines(tmp_path):
    record = {"epoch": 3, "train/loss": [0.5, 0.25], "test/top1": 0.75, "lr": 0.01}
    JsonlWriter(str(tmp_path / "a.jsonl")).write_scalars(3, {k: v for k, v in record.items()})
    want = json.dumps(record, sort_keys=True) + "\n"
    assert (tmp_path / "a.jsonl").read_text() == want
    cfg = test_config.get_config()
    wd = Workdir(str(tmp_path / "wd"), cfg)
    try:
        wd.append(record)
    finally:
        wd.close()
    assert (tmp_path / "wd" / "metrics.jsonl").read_text() == want


def test_tensorboard_writer_replays_a_cut_history_exactly_once(tmp_path):
    d = str(tmp_path / "tb")
    hist = [{"epoch": e, "loss": [1.0 / e, 2.0 / e], "shared": 0.5 + e} for e in (1, 2, 3)]
    w = TensorBoardWriter([f"{d}/a", f"{d}/b"], num_runs=2)
    for rec in hist:
        w.write_scalars(rec["epoch"], {k: v for k, v in rec.items() if k != "epoch"})
    w.close()
    assert_matches_jsonl(f"{d}/b", hist, run=1)
    # A resume cut the log back to epoch 1 and trains epochs 2-3 again with other numbers.
    again = hist[:1] + [{"epoch": e, "loss": [5.0, 6.0], "shared": 9.0} for e in (2, 3)]
    w = TensorBoardWriter([f"{d}/a", f"{d}/b"], num_runs=2, history=again[:1])
    w.write_hparams({"seed": [0, 1], "loss.name": "ce"})
    for rec in again[1:]:
        w.write_scalars(rec["epoch"], {k: v for k, v in rec.items() if k != "epoch"})
    w.close()
    for r, sub in enumerate("ab"):
        hp = assert_matches_jsonl(f"{d}/{sub}", again, run=r)
        assert hp == {"seed": float(r), "loss.name": "ce"}
        assert len(glob.glob(f"{d}/{sub}/events.out.tfevents.*")) == 1
        assert not glob.glob(f"{d}/{sub}/.rebuild.*")


def test_make_writers_and_config_check_the_names(tmp_path):
    with pytest.raises(ValueError, match="keep 'jsonl'"):
        make_writers(("tensorboard",), str(tmp_path))
    for bad in ("jsonl/tb", "tensorboard"):
        cfg = test_config.get_config(f"writers={bad}")
        with pytest.raises(ValueError, match=r"config.writers=.*'jsonl', 'tensorboard'"):
            validate_config(cfg)
    assert test_config.get_config("writers=jsonl/tensorboard").writers == ("jsonl", "tensorboard")
    assert flat_hparams({"a": {"b": [1, 2]}, "c": None}) == {"a.b": "[1, 2]", "c": None}


def test_tensorboard_equals_metrics_jsonl_after_a_kill_and_a_resume(tmp_path):
    """Two vmapped runs, 4 epochs, a checkpoint every 2: killed after epoch 3, the resume rolls
    epoch 3 back (its checkpoint never existed) and trains it again."""
    cfg = test_config.get_config(
        "seeds=0/1,epochs=4,checkpoint_every=2,writers=jsonl/tensorboard,dataset.max_train=400"
    )
    wd = str(tmp_path / "run")
    quiet = {"log": lambda s: None}
    train(cfg, wd, stop_after=3, **quiet)
    first = _jsonl(f"{wd}/metrics.jsonl")
    assert [r["epoch"] for r in first] == [1, 2, 3]
    assert_matches_jsonl(f"{wd}/tensorboard/run_0", first, run=0)  # epoch 3 is in TensorBoard
    train(cfg, wd, **quiet)
    final = _jsonl(f"{wd}/metrics.jsonl")
    assert [r["epoch"] for r in final] == [1, 2, 3, 4]
    assert final[2]["time"] != first[2]["time"]  # epoch 3 was trained again
    for r in (0, 1):
        hp = assert_matches_jsonl(f"{wd}/tensorboard/run_{r}", final, run=r)
        assert hp["seed"] == r and hp["loss.name"] == "ce" and hp["noise.rate"] == 0.2
    acc = EventAccumulator(f"{wd}/tensorboard/run_1").Reload()  # what TensorBoard shows
    curve = [(s.step, s.value) for s in acc.Scalars("test/top1")]
    assert curve == [(r["epoch"], float(np.float32(r["test/top1"][1]))) for r in final]


def test_a_sweep_writes_one_tensorboard_run_per_cell_with_hparams(tmp_path):
    from robustloss.sweep import cells_from_grid, product, results, run_sweep

    cells = cells_from_grid(
        test_config.get_config,
        product(seed=[0, 1]),
        "epochs=2,writers=jsonl/tensorboard,dataset.max_train=300",
    )
    sweep = str(tmp_path / "sweep")
    rep = run_sweep(cells, sweep, workers=0, log=lambda s: None, tty=False)
    assert rep["programs"] == 1 and rep["done"] == 2
    assert sorted(os.listdir(f"{sweep}/tensorboard")) == sorted(c.id for c in cells)
    seeds = []
    for c in cells:
        hist = _jsonl(f"{sweep}/cells/{c.id}/metrics.jsonl")
        hp = assert_matches_jsonl(f"{sweep}/tensorboard/{c.id}", hist)
        seeds.append(hp["seed"])
    assert seeds == [0.0, 1.0]  # the HParams dashboard tells the cells apart by seed
    assert "noise/memorisation" in results.load(sweep).columns  # diagnostics join the table


def test_training_imports_no_tracker_and_no_table_library():
    """TensorBoard, W&B, pyarrow and pandas load only when a run writes their files."""
    import subprocess
    import sys

    from tests import ROOT

    code = (
        "import sys, robustloss.training, robustloss.sweep; "
        "print([m for m in ('tensorboard', 'wandb', 'pyarrow', 'pandas') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
