"""The harness on the streaming pipeline (``dataset.pipeline="stream"``).

A small image dataset (PNG files generated here, listed in CSVs) is trained with both
pipelines: the stream gives the memory pipeline's numbers (same order: ``data_seed = seed``;
augmentation on the device at native size) on 1, 2 and 4 devices, with per-example state
(ALDR-KL); packed runs share the stream and equal separate runs; a run killed with SIGKILL
mid-epoch resumes from its mid-epoch checkpoint to the same numbers.
"""

import os
import signal
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from PIL import Image

from configs import test as test_config
from robustloss.training import train, validate_config
from robustloss.training.build import (
    _with_init_params,
    build_trainer,
    init_state,
    load_run_data,
)
from tests import ROOT

CLASSES = ("cat", "dog", "eel")
QUIET = {"log": lambda s: None}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(52):
        k = i % 3  # a class-dependent colour, so the network learns something
        img = rng.integers(0, 120, (8, 8, 3), dtype=np.uint8)
        img[..., k] += 120
        Image.fromarray(img).save(d / f"{i}.png")
        rows.append(f"{i}.png,{CLASSES[k]}")
    (d / "train.csv").write_text("path,label\n" + "\n".join(rows[:40]) + "\n")
    (d / "test.csv").write_text("\n".join(rows[40:]) + "\n")
    return d


def config(folder, pipeline="memory", loss="aldr_kl", **fields):
    c = test_config.get_config(f"loss={loss}")
    with c.unlocked():
        c.dataset.name = "image_list"
        c.dataset.path = str(folder / "train.csv")
        c.dataset.test_path = str(folder / "test.csv")
        c.dataset.val_fraction = 0.2  # 31 training images, 9 validation (stratified)
        c.dataset.pipeline = pipeline
        c.dataset.mean, c.dataset.std = (0.5, 0.4, 0.45), (0.25, 0.3, 0.2)
        c.dataset.threads = 2
        c.augment = True  # native size: pad-4 crop + flip on the device in both pipelines
        c.model.hidden = 16
        c.batch_size = 8
        c.num_epochs = 2
        c.epoch_mode = "loop"
        c.progress = "none"
        # the memory run's default (-1: every epoch of 2); the stream's -1 is off: opting in
        # compares the streamed noise diagnostics with the memory pipeline's too
        c.diagnostics.every = 1
        for k, v in fields.items():
            node = c
            *parents, leaf = k.split(".")
            for p in parents:
                node = node[p]
            node[leaf] = v
    validate_config(c)
    return c


def _strip(history):
    return [{k: v for k, v in r.items() if k not in ("time", "elapsed")} for r in history]


def _close(a, b, rtol=1e-5, atol=1e-6):
    a, b = _strip(a), _strip(b)
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    for ra, rb in zip(a, b, strict=True):
        for k in ra:
            np.testing.assert_allclose(ra[k], rb[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.fixture(scope="module")
def memory_run(folder):
    return train(config(folder, num_devices=1), None, **QUIET)


@pytest.fixture(scope="module")
def stream_run(folder, tmp_path_factory):
    cfg = config(folder, "stream", num_devices=1, checkpoint_steps=3)
    work = tmp_path_factory.mktemp("stream_run")
    return cfg, work, train(cfg, str(work), **QUIET)


def test_stream_gives_the_memory_pipelines_numbers(memory_run, stream_run):
    """Same order (data_seed 0 = seed 0), same device augmentation, same ALDR-KL λ_i."""
    _, _, s = stream_run
    _close(s["history"], memory_run["history"], rtol=1e-6, atol=1e-7)
    assert s["complete"] and s["final"]["test/top1"] > 0.5
    aux = lambda r: jax.tree.leaves(jax.device_get(r["state"].aux))  # λ_i of every example
    for a, b in zip(aux(s), aux(memory_run), strict=True):
        assert a.shape == (31,)  # one λ per training example (40 - 9 stratified val)
        np.testing.assert_allclose(a, b, rtol=1e-5)


@pytest.mark.parametrize("devices", [2, 4])
def test_stream_on_several_devices_equals_memory_on_one(folder, memory_run, devices):
    s = train(config(folder, "stream", num_devices=devices), None, **QUIET)
    _close(s["history"], memory_run["history"])


def test_packed_runs_share_the_stream_and_equal_separate_runs(folder, memory_run):
    packed = train(config(folder, "stream", runs=({"seed": 0}, {"seed": 1})), None, **QUIET)
    alone = train(config(folder, "stream", seed=1), None, **QUIET)
    run = lambda h, r: [{k: v[r] if isinstance(v, list) else v for k, v in x.items()} for x in h]
    _close(run(packed["history"], 1), alone["history"])
    _close(run(packed["history"], 0), memory_run["history"])
    # Both runs saw the same batches (one data seed) but differ by their own init and keys.
    assert packed["final"]["train/loss"][0] != packed["final"]["train/loss"][1]


def test_refresh_and_evaluation_stream_the_same_logits(folder):
    """TGCE's refresh pass and the evaluations predict the same rows through the stream."""
    from robustloss.training.feed import make_feed

    out = {}
    for pipeline in ("memory", "stream"):
        cfg = config(folder, pipeline, loss="tgce", num_devices=2, eval_batch_size=6)
        data = load_run_data(cfg)
        trainer = build_trainer(cfg, data)
        state = init_state(cfg, trainer, data)
        feed = make_feed(cfg, trainer, data)
        x_val = feed.eval_input(data.x_val)
        out[pipeline] = (feed.predict(state, x_val), feed.refresh(state).aux)
        feed.close()
    np.testing.assert_allclose(out["stream"][0], out["memory"][0], rtol=1e-5, atol=1e-6)
    assert out["stream"][0].shape == (9, 3)  # 9 validation rows in chunks of 6 (one padded)
    for a, b in zip(*(jax.tree.leaves(out[p][1]) for p in out), strict=True):
        np.testing.assert_array_equal(a, b)


CHILD = """
import os, signal, sys
sys.path.insert(0, {root!r})
from robustloss.training import train, workdir
from tests.training.test_stream import config
import pathlib
saves, real = [], workdir.Workdir.save_mid_epoch
def save_then_die(self, step, *a):
    real(self, step, *a)
    saves.append(step)
    if step == 6:  # inside epoch 2 (4 steps per epoch), after the epoch-1 checkpoint
        self._mid.wait_until_finished()
        os.kill(os.getpid(), signal.SIGKILL)
workdir.Workdir.save_mid_epoch = save_then_die
train(config(pathlib.Path({folder!r}), "stream", num_devices=1, checkpoint_steps=3),
      {work!r}, log=lambda s: None)
"""


def test_killed_mid_epoch_resumes_from_the_iterator_state(
    folder, stream_run, tmp_path, monkeypatch
):
    cfg, _, full = stream_run
    work = tmp_path / "killed"
    script = textwrap.dedent(CHILD).format(root=str(ROOT), folder=str(folder), work=str(work))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    child = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, timeout=600
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-3000:]
    assert os.listdir(work / "checkpoints_mid_epoch") == ["6"]
    # The resumed run restores epoch 1, then the step-6 checkpoint with the grain iterator's
    # state: the stream (started at batch 0 by the killed run) continues at batch 6.
    from robustloss.data import Stream

    restored, real = [], Stream.restore
    monkeypatch.setattr(Stream, "restore", lambda s, st: restored.append(st) or real(s, st))
    resumed = train(cfg, str(work), **QUIET)
    assert [(r["first"], r["position"]) for r in restored] == [(0, 6)]
    assert restored[0]["grain"] == {"next_index": 6}
    assert _strip(resumed["history"]) == _strip(full["history"])  # bit-exact
    for a, b in zip(jax.tree.leaves(resumed["state"]), jax.tree.leaves(full["state"]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unreadable_images_are_skipped_and_counted_or_fail(folder, tmp_path):
    rows = (folder / "train.csv").read_text().splitlines()[1:]
    for i in range(52):  # relative paths of both lists start at the training list's folder
        os.link(folder / f"{i}.png", tmp_path / f"{i}.png")
    (tmp_path / "39.png").unlink()
    (tmp_path / "39.png").write_bytes(b"garbage")  # caught by the header check at loading
    png = (folder / "38.png").read_bytes()
    (tmp_path / "38.png").unlink()
    (tmp_path / "38.png").write_bytes(png[: len(png) // 2])  # header whole: caught when decoded
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    fields = {
        "dataset.path": str(tmp_path / "train.csv"),
        "dataset.val_fraction": 0.0,
        "num_devices": 1,
        "select_metric": "test/top1",
    }
    with pytest.raises(ValueError, match=r"39.png' \(row 39\): unreadable"):
        train(config(folder, "stream", **fields), None, **QUIET)
    fields["dataset.bad_images"] = "skip"
    with pytest.raises(ValueError, match="diagnostics.every=1 needs every training image"):
        config(folder, "stream", **fields)
    fields["diagnostics.every"] = -1  # the default: off with the stream pipeline
    s = train(config(folder, "stream", **fields), None, **QUIET)
    assert not any(k.startswith("noise/") for k in s["history"][-1])
    # per epoch: one image left out at loading, one masked when decoded
    assert [r["train/bad_images"] for r in s["history"]] == [2.0, 2.0]
    fields.pop("dataset.bad_images")
    (tmp_path / "39.png").write_bytes((folder / "39.png").read_bytes())
    with pytest.raises(ValueError, match=r"cannot decode image file .*38.png"):
        train(config(folder, "stream", **fields), None, **QUIET)


def test_stream_config_errors(folder):
    with pytest.raises(ValueError, match="config.dataset.pipeline='disk' is not valid"):
        config(folder, "disk")
    with pytest.raises(ValueError, match="checkpoint_steps=5 saves mid-epoch checkpoints"):
        config(folder, checkpoint_steps=5)
    with pytest.raises(ValueError, match="epoch_mode='scan' needs the training set"):
        config(folder, "stream", epoch_mode="scan")
    with pytest.raises(ValueError, match=r"dataset.mean=\(0.5,\) and config.dataset.std"):
        config(folder, **{"dataset.mean": (0.5,)})
    with pytest.raises(
        ValueError, match=r"dataset.image_size applies to \[.*'image_list'\], not 'digits'"
    ):
        config(folder, **{"dataset.name": "digits", "dataset.image_size": 32})
    with pytest.raises(ValueError, match="draws the noise from the inputs"):
        load_run_data(config(folder, "stream", **{"noise.kind": "instance"}))
    # The same checks on each run of a packed program (its RunPlan), not the base config only.
    kinds = ({"noise.kind": "uniform"}, {"noise.kind": "instance"})
    with pytest.raises(ValueError, match="noise.kind='instance' draws the noise from the inputs"):
        load_run_data(config(folder, "stream", runs=kinds, **{"noise.rate": 0.2}))
    folds = {"dataset.val_fraction": 0.0, "dataset.num_folds": 2}
    runs = ({"dataset.fold": 0}, {"dataset.fold": 1})
    with pytest.raises(ValueError, match="vmapped runs on different folds .* cannot share one"):
        load_run_data(config(folder, "stream", runs=runs, **folds))
    load_run_data(config(folder, runs=runs, **folds))  # the memory pipeline packs folds
    bad = config(folder, **{"dataset.mean": (0.5, 0.5), "dataset.std": (1.0, 1.0)})
    with pytest.raises(ValueError, match=r"mean/std have 2 channels but the inputs"):
        load_run_data(bad)


def test_pretrained_resnet_through_the_config(folder, tmp_path):
    from tests.models.test_pretrained import table_state_dict

    sd = table_state_dict("resnet18", width=2, k=1000)
    np.savez(tmp_path / "r18.npz", **sd)
    fields = {
        "model.name": "resnet18",
        "model.width": 2,
        "model.stem": "imagenet",
        "model.init_path": str(tmp_path / "r18.npz"),
    }
    cfg = config(folder, "stream", **fields)
    data = load_run_data(cfg)
    trainer = build_trainer(cfg, data)
    # The initial state's shapes, without compiling a ResNet init (minutes on a loaded CPU).
    key = jax.random.PRNGKey(0)
    shapes = jax.eval_shape(lambda: trainer._init_one(key, np.zeros((1, 8, 8, 3), np.float32)))
    fresh = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), shapes)
    state = _with_init_params(cfg, trainer, fresh, None)
    np.testing.assert_array_equal(
        state.params["Conv_0"]["kernel"], sd["conv1.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        state.batch_stats["_BasicBlock_7"]["BatchNorm_1"]["mean"], sd["layer4.1.bn2.running_mean"]
    )
    assert state.params["Dense_0"]["kernel"].shape == (16, 3)  # a new head for K = 3
    np.testing.assert_array_equal(state.params["Dense_0"]["kernel"], 0)  # kept as initialised
    cfg = config(folder, "stream", **{**fields, "model.stem": "cifar"})
    trainer = build_trainer(cfg, data)
    shapes = jax.eval_shape(lambda: trainer._init_one(key, np.zeros((1, 8, 8, 3), np.float32)))
    fresh = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), shapes)
    with pytest.raises(ValueError, match=r"config.model.init_path: .*conv1.weight: file"):
        _with_init_params(cfg, trainer, fresh, None)
