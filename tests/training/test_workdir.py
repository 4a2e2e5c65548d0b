"""The workdir: metrics.jsonl appended per epoch; no line is lost or doubled by a kill."""

import json
import os

import pytest

from configs import test as test_config
from robustloss.training import train

QUIET = {"log": lambda s: None}


def _strip(history):
    return [{k: v for k, v in r.items() if k not in ("time", "elapsed")} for r in history]


def _lines(path):
    with open(path / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    cfg = test_config.get_config("epochs=3")
    path = tmp_path_factory.mktemp("full")
    return cfg, train(cfg, str(path), **QUIET), path


def test_metrics_are_appended_one_line_per_epoch(full, tmp_path, monkeypatch):
    cfg, summary, path = full
    assert [r["epoch"] for r in _lines(path)] == [1, 2, 3] and summary["complete"]
    assert _strip(_lines(path)) == _strip(summary["history"])
    # Appended, never rewritten: the run opens the log once, in "a" mode; and the log is on
    # disk (fsynced) before every checkpoint, so a checkpoint never gets ahead of it.
    from robustloss.training.workdir import Workdir
    from robustloss.training.writers import JsonlWriter

    modes, events = [], []
    real_open, real_fsync = open, os.fsync

    def spy(file, mode="r", *a, **k):
        if str(file).endswith("metrics.jsonl"):
            modes.append(mode)
        return real_open(file, mode, *a, **k)

    real_flush, real_save = JsonlWriter.flush, Workdir.save
    monkeypatch.setattr("builtins.open", spy)
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(JsonlWriter, "flush", lambda w: (events.append("log"), real_flush(w))[1])
    monkeypatch.setattr(
        Workdir, "save", lambda wd, e, st: (events.append(f"save {e}"), real_save(wd, e, st))[1]
    )
    with cfg.unlocked():
        cfg.checkpoint_every = 1
    train(cfg, str(tmp_path / "spy"), **QUIET)
    assert modes == ["a"]
    saves = [i for i, e in enumerate(events) if e.startswith("save")]
    assert [events[i] for i in saves] == ["save 1", "save 2", "save 3"]
    for i in saves:  # the log's flush and its fsync come right before each save
        assert events[i - 2 : i] == ["log", "fsync"], events


def test_checkpoint_ahead_of_the_log_is_retrained_not_lost(full, tmp_path):
    """Kill between the checkpoint and its line (simulated by dropping the last line): the
    resumed run restores the previous checkpoint and writes every line exactly once."""
    cfg, summary, _ = full
    work = tmp_path / "w"
    train(cfg, str(work), stop_after=2, **QUIET)
    lines = (work / "metrics.jsonl").read_text().splitlines(keepends=True)
    (work / "metrics.jsonl").write_text("".join(lines[:1]) + lines[1][:10])  # half a line
    resumed = train(cfg, str(work), **QUIET)
    assert [r["epoch"] for r in _lines(work)] == [1, 2, 3] and resumed["complete"]
    assert _strip(_lines(work)) == _strip(summary["history"])  # bit-exact, no duplicate


def test_log_ahead_of_the_checkpoint_is_cut_back(full, tmp_path):
    """Lines of epochs after the newest checkpoint are dropped and retrained once."""
    cfg, summary, _ = full
    work = tmp_path / "w"
    with cfg.unlocked():
        cfg.checkpoint_every = 2
    part = train(cfg, str(work), stop_after=1, **QUIET)  # line 1, no checkpoint
    assert not part["complete"]
    train(cfg, str(work), **QUIET)
    assert [r["epoch"] for r in _lines(work)] == [1, 2, 3]
    assert _strip(_lines(work)) == _strip(summary["history"])


def test_lost_log_with_checkpoints_is_an_error(tmp_path):
    cfg = test_config.get_config("epochs=2")
    train(cfg, str(tmp_path), stop_after=1, **QUIET)
    (tmp_path / "metrics.jsonl").unlink()
    with pytest.raises(ValueError, match="metrics.jsonl holds the lines of epochs 1..0"):
        train(cfg, str(tmp_path), **QUIET)


def test_workdir_lock_second_open_and_second_process(tmp_path):
    """One run per workdir: a second `Workdir` (in this process or another) fails at once,
    naming the workdir; the lock goes away on close, on an error and when its process dies."""
    import subprocess
    import sys

    from robustloss.training import Workdir, WorkdirLockedError

    cfg = test_config.get_config("epochs=1")
    work = tmp_path / "w"
    first = Workdir(str(work), cfg)
    with pytest.raises(WorkdirLockedError, match=rf"workdir {work} is in use: another run"):
        Workdir(str(work), cfg)
    with pytest.raises(WorkdirLockedError):  # before any data is loaded or compiled
        train(cfg, str(work), **QUIET)
    first.close()
    Workdir(str(work), cfg).close()
    # A run that fails (here: a different config) releases the lock.
    (work / "config.json").write_text(json.dumps({"seed": 99}))
    with pytest.raises(ValueError, match="different config"):
        Workdir(str(work), cfg)
    (work / "config.json").unlink()
    Workdir(str(work), cfg).close()
    # Another process holding the lock; killing it releases it.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(work)!r}, os.O_RDONLY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WorkdirLockedError):
            Workdir(str(work), cfg)
    finally:
        holder.kill()
        holder.wait()
    Workdir(str(work), cfg).close()


def test_checkpoints_without_their_config_are_refused(tmp_path):
    """config.json deleted: a different config must not resume the old checkpoint."""
    cfg = test_config.get_config("epochs=2")
    train(cfg, str(tmp_path), stop_after=1, **QUIET)
    (tmp_path / "config.json").unlink()
    other = test_config.get_config("epochs=2,lr=0.5")
    for c in (other, cfg):  # the config they were trained with cannot be checked either
        with pytest.raises(ValueError, match=r"holds checkpoints .* but no config.json"):
            train(c, str(tmp_path), **QUIET)


def test_rerun_resumes_when_only_display_or_checkpoint_cadence_changed(tmp_path):
    """`experiments.main` again with another ``progress``/``checkpoint_every`` resumes (those
    fields never change the numbers); any other change is still refused."""
    from robustloss.sweep import NOT_IN_ID as SWEEP_NOT_IN_ID
    from robustloss.training import Workdir
    from robustloss.training.workdir import NOT_IN_ID

    assert NOT_IN_ID == SWEEP_NOT_IN_ID  # one list: cell ids and resumption agree
    cfg = test_config.get_config("epochs=1")
    wd = Workdir(str(tmp_path), cfg)
    wd.open(1)
    wd.close()
    same_run = test_config.get_config(
        "epochs=1,progress=none,checkpoint_every=5,keep_checkpoints=3,sync_every=4"
    )
    wd = Workdir(str(tmp_path), same_run)  # no error
    wd.open(1)  # records the new values
    wd.close()
    assert json.loads((tmp_path / "config.json").read_text())["checkpoint_every"] == 5
    with pytest.raises(ValueError, match=r"different config \(fields \['optimizer.lr'\]\)"):
        Workdir(str(tmp_path), test_config.get_config("epochs=1,lr=0.5,progress=none"))


def test_metrics_file_stays_strict_json(tmp_path):
    """NaN/inf never reach metrics.jsonl (JSON has no Infinity): the append raises first."""
    from robustloss.training import Workdir

    wd = Workdir(str(tmp_path), test_config.get_config("epochs=1"))
    wd.open(1)
    try:
        with pytest.raises(ValueError, match="Out of range float values are not JSON"):
            wd.append({"epoch": 1, "train/loss": float("inf")})
        wd.append({"epoch": 1, "train/loss": [0.5, None]})
    finally:
        wd.close()
    assert (tmp_path / "metrics.jsonl").read_text() == '{"epoch": 1, "train/loss": [0.5, null]}\n'
