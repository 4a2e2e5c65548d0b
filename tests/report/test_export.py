"""Export to W&B in offline mode (no server): one run per cell / vmapped run with its config,
history and summary, read back from the local run files; a second export adds nothing."""

import glob
import json
import os
import struct

import pytest

from configs import test as test_config
from robustloss.sweep import cells_from_grid, product
from robustloss.sweep.cells import write_cell, write_failed

wandb = pytest.importorskip("wandb", reason="the [wandb] extra is not installed")
from wandb.proto import wandb_internal_pb2 as pb  # noqa: E402

from robustloss.report.export import RECORD, export_wandb, run_id  # noqa: E402


def read_wandb_file(path: str) -> list:
    """The records of an offline run's ``run-<id>.wandb`` file (W&B's LevelDB-style log:
    a 7-byte ``:W&B`` header, then 32 KiB blocks of records with a 7-byte header each:
    checksum, length, type full/first/middle/last)."""
    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, block, out, buf = 7, 32768, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            break
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            r = pb.Record()
            r.ParseFromString(buf)
            out.append(r)
            buf = b""
    return out


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def offline_runs(wandb_dir: str) -> dict[str, list]:
    """``{run id: [what each offline directory of that id holds]}``: config, history, summary."""
    out: dict[str, list] = {}
    for path in sorted(glob.glob(os.path.join(wandb_dir, "wandb", "offline-run-*", "run-*.wandb"))):
        run = {"history": {}, "summary": {}, "config": {}}
        for r in read_wandb_file(path):
            kind = r.WhichOneof("record_type")
            if kind == "run":
                run["id"], run["name"], run["group"] = (
                    r.run.run_id,
                    r.run.display_name,
                    r.run.run_group,
                )
                run["config"].update({i.key: json.loads(i.value_json) for i in r.run.config.update})
            elif kind == "config":
                run["config"].update({i.key: json.loads(i.value_json) for i in r.config.update})
            elif kind == "history":
                row = {_key(i): json.loads(i.value_json) for i in r.history.item}
                run["history"][r.history.step.num] = row
            elif kind == "summary":
                run["summary"].update({_key(i): json.loads(i.value_json) for i in r.summary.update})
        out.setdefault(run["id"], []).append(run)
    return out


def _fake_sweep(sweep: str):
    """Two finished cells and a failed one (files as the driver writes them; no training)."""
    cells = cells_from_grid(test_config.get_config, product(seed=[0, 1, 2]), "epochs=2")
    for i, c in enumerate(cells[:2]):
        hist = [
            {"epoch": e, "test/top1": 0.5 + 0.1 * e + 0.01 * i, "noise/memorisation": 0.1 * e}
            for e in (1, 2)
        ]
        summary = {"final": hist[-1], "best": {"metric": "val/top1", "epoch": 2, "oracle": False},
                   "complete": True, "num_epochs": 2}  # fmt: skip
        write_cell(sweep, c, hist, summary, {"program": "p", "wall": 1.0, "runs": 2})
    write_failed(sweep, cells[2], "NonFiniteLossError: boom", {"program": "q", "wall": 0.5})
    with open(os.path.join(sweep, "sweep.json"), "w") as f:
        json.dump({"cells": [{"id": c.id, "arg": c.arg, "values": c.values} for c in cells]}, f)
    return cells


@pytest.fixture
def offline(tmp_path, monkeypatch):
    for k, v in {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path / "wb"),
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
    }.items():
        monkeypatch.setenv(k, v)
    os.makedirs(tmp_path / "wb")
    yield str(tmp_path / "wb")
    wandb.teardown()


def test_export_a_sweep_and_a_vmapped_run_twice(tmp_path, offline):
    sweep = str(tmp_path / "sweep")
    cells = _fake_sweep(sweep)
    counts = export_wandb(sweep, project="t", log=lambda s: None)
    assert counts == {
        "exported": 2,
        "resumed": 0,
        "skipped": 0,
        "done": 2,
        "failed": 1,
        "pending": 0,
    }
    runs = offline_runs(offline)
    assert len(runs) == 2
    for c in cells[:2]:
        (run,) = runs[run_id(sweep, f"cells/{c.id}")]
        assert run["name"] == c.arg and run["group"] == "sweep"
        assert run["config"]["seed"] == c.config["seed"] and run["config"]["num_epochs"] == 2
        with open(os.path.join(sweep, "cells", c.id, "metrics.jsonl")) as f:
            hist = [json.loads(x) for x in f]
        for rec in hist:  # every metric at its epoch, exactly
            got = runs[run_id(sweep, f"cells/{c.id}")][0]["history"][rec["epoch"]]
            assert {k: got[k] for k in rec if k != "epoch"} == {
                k: v for k, v in rec.items() if k != "epoch"
            }
        assert run["summary"]["best/epoch"] == 2 and run["summary"]["complete"] is True
    # a second export adds no run (and writes no offline directory)
    before = glob.glob(os.path.join(offline, "wandb", "offline-run-*"))
    again = export_wandb(sweep, project="t", log=lambda s: None)
    assert again["exported"] == again["resumed"] == 0 and again["skipped"] == 2
    assert glob.glob(os.path.join(offline, "wandb", "offline-run-*")) == before
    with open(os.path.join(sweep, RECORD)) as f:
        assert len(json.load(f)["/t"]) == 2

    # a workdir of 2 vmapped runs: one W&B run each; a resumed epoch is exported alone
    wd = str(tmp_path / "packed")
    os.makedirs(wd)
    cfg = test_config.get_config("seeds=3/4,epochs=3")
    with open(os.path.join(wd, "config.json"), "w") as f:
        f.write(cfg.to_json_best_effort())
    lines = [{"epoch": e, "test/top1": [0.1 * e, 0.2 * e], "time": 1.0} for e in (1, 2, 3)]
    with open(os.path.join(wd, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in lines[:2])
    assert export_wandb(wd, project="t", log=lambda s: None)["exported"] == 2
    with open(os.path.join(wd, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(lines[2]) + "\n")
    assert export_wandb(wd, project="t", log=lambda s: None)["resumed"] == 2
    runs = offline_runs(offline)
    for r, seed in enumerate((3, 4)):
        # two offline directories of one run id; their names' order is not the export order
        # when both exports fall in the same second (W&B names them by time and a random id)
        first, second = sorted(runs[run_id(wd, f"run_{r}")], key=lambda x: min(x["history"]))
        assert first["config"]["seed"] == seed and first["config"]["run_index"] == r
        assert sorted(first["history"]) == [1, 2] and sorted(second["history"]) == [3]
        assert second["history"][3]["test/top1"] == lines[2]["test/top1"][r]
