"""Metric writers behind one small interface: ``metrics.jsonl`` and TensorBoard event files.

The interface has clu's ``MetricWriter`` shape -- ``write_scalars(step, scalars)``,
``write_hparams(hparams)``, ``flush()``, ``close()`` -- so a run's loop writes one record to
every writer of ``config.writers``:

* ``"jsonl"`` (`JsonlWriter`, required): ``metrics.jsonl``, one JSON object per epoch, appended
  (fsynced before every checkpoint). It is the run's record -- resuming, ``summary.json``, the
  sweep's results table and every exporter read it (the big_vision convention).
* ``"tensorboard"`` (`TensorBoardWriter`, extra ``[tensorboard]``): event files that
  ``tensorboard --logdir DIR`` shows, written with the ``tensorboard`` package's own record
  writer and protocol buffers (no TensorFlow). Same keys and values as ``metrics.jsonl`` (as
  float32 ``simple_value``), step = epoch; one TensorBoard run (directory) per training run, so
  vmapped runs and a sweep's cells each get their own; the run's config goes to the HParams
  plugin (``_hparams_/session_start_info``), so its dashboard compares runs by any field.

A TensorBoard run is *derived* from ``metrics.jsonl``: opening it deletes the directory's event
files and replays the (resumed) history into a new one, so a resumed run -- whose
``metrics.jsonl`` was cut back to its checkpoint -- has every epoch exactly once, never a
point of an epoch that was rolled back and trained again. The replay is written under a
temporary name and renamed over the old files' place, so a kill at any moment leaves either
the old points or the new ones, and the next open rebuilds from ``metrics.jsonl`` anyway.

Values: a scalar, or a list with one value per vmapped run (``num_runs``); `TensorBoardWriter`
writes value ``r`` of a list to run ``r``'s directory. ``None`` values are skipped.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> w = JsonlWriter(os.path.join(d, "metrics.jsonl"))
    >>> w.write_scalars(1, {"train/loss": 0.5})
    >>> open(os.path.join(d, "metrics.jsonl")).read()
    '{"epoch": 1, "train/loss": 0.5}\\n'
"""

from __future__ import annotations

import abc
import glob
import json
import math
import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "WRITERS",
    "JsonlWriter",
    "MetricWriter",
    "MultiWriter",
    "TensorBoardWriter",
    "flat_hparams",
    "make_writers",
    "tensorboard_available",
]

#: The writers ``config.writers`` may name (``"jsonl"`` is required: it is the run's record).
WRITERS = ("jsonl", "tensorboard")
_EVENTS = "events.out.tfevents."


class MetricWriter(abc.ABC):
    """Where a run's per-epoch metrics go (clu's ``MetricWriter`` shape).

    ``scalars`` and ``hparams`` map names to numbers (or, for vmapped runs, lists with one value
    per run); the step is the number of completed epochs.
    """

    @abc.abstractmethod
    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Records ``scalars`` at ``step``."""

    @abc.abstractmethod
    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        """Records the run's hyperparameters (flat names; see `flat_hparams`)."""

    def flush(self) -> None:  # noqa: B027 -- optional: writers that buffer override it
        """Makes everything written so far readable by others."""

    def close(self) -> None:
        """Flushes and releases the writer's files."""
        self.flush()


class JsonlWriter(MetricWriter):
    """``metrics.jsonl``: one ``{"epoch": step, **scalars}`` line per call, sorted keys.

    Each line reaches the operating system when `write_scalars` returns (a killed process
    loses nothing); `flush` and `close` also fsync it to the disk. The training loop flushes
    before every checkpoint, so a checkpoint never gets ahead of the log even after a power
    loss, without an fsync per epoch (which cost a small run ~5%, ``bench/writers.py``).

    Args:
        path: the file (appended to).
        step_key: the name of the step in each line.
    """

    def __init__(self, path: str, step_key: str = "epoch"):
        self.path = path
        self.step_key = step_key
        self._file = None

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Appends the line; a NaN/inf value raises ``ValueError`` (JSON has none) and nothing
        is written."""
        line = json.dumps({self.step_key: step, **scalars}, sort_keys=True, allow_nan=False)
        if self._file is None:
            self._file = open(self.path, "a")  # noqa: SIM115 -- kept open across epochs
        self._file.write(line + "\n")
        self._file.flush()

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        """Nothing: the workdir's ``config.json`` holds the whole config."""
        del hparams

    def flush(self) -> None:
        """fsyncs the lines written so far."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (extra ``[tensorboard]``) can be imported."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _tensorboard():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import metadata, plugin_data_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "config.writers includes 'tensorboard' but the tensorboard package is not "
            "installed; pip install 'robustloss[tensorboard]' (no TensorFlow needed)"
        ) from e
    return event_pb2, summary_pb2, metadata, plugin_data_pb2, RecordWriter


class _EventFile:
    """One TensorBoard event file, written synchronously (no writer thread): records go
    straight to the file and `flush` pushes them to the OS."""

    def __init__(self, logdir: str, records: Sequence[bytes]):
        event_pb2, _, _, _, RecordWriter = _tensorboard()
        self._event_pb2 = event_pb2
        name = f"{_EVENTS}{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{id(self)}"
        self.path = os.path.join(logdir, name)
        tmp = os.path.join(logdir, f".rebuild.{os.getpid()}.{id(self)}")  # not an event file name
        self._file = open(tmp, "wb")
        self._records = RecordWriter(self._file)
        version = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
        self._records.write(version.SerializeToString())
        for data in records:
            self._records.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        stale = glob.glob(os.path.join(logdir, _EVENTS + "*"))
        stale += [p for p in glob.glob(os.path.join(logdir, ".rebuild.*")) if p != tmp]
        for old in stale:  # the replayed history replaces every older point (and killed rebuilds)
            os.remove(old)
        os.replace(tmp, self.path)  # the open file keeps writing to the renamed path

    def write(self, data: bytes) -> None:
        self._records.write(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def _number(v: Any) -> float | None:
    """``v`` as a float for TensorBoard, or None (not a number: skipped)."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    return None


class TensorBoardWriter(MetricWriter):
    """TensorBoard event files, one directory (TensorBoard run) per training run.

    Opening deletes each directory's event files and replays ``history`` (the records of
    ``metrics.jsonl`` after a resume) into one new file per directory, so each (tag, epoch) is
    written exactly once however often the run was killed and resumed (module docstring).

    Args:
        logdirs: one directory per run (created).
        num_runs: None for one run (one directory; scalar values), else R (R directories;
            values are lists of R, or scalars shared by every run).
        history: records to replay, each ``{step_key: step, name: value, ...}``.
        step_key: the name of the step in ``history``'s records.

    Raises:
        ValueError: the number of directories does not match ``num_runs``.
        ImportError: the ``tensorboard`` package is missing.
    """

    def __init__(
        self,
        logdirs: Sequence[str],
        *,
        num_runs: int | None = None,
        history: Sequence[Mapping[str, Any]] = (),
        step_key: str = "epoch",
    ):
        _, self._summary_pb2, self._metadata, self._plugin_data_pb2, _ = _tensorboard()
        self._event_pb2 = _tensorboard()[0]
        want = 1 if num_runs is None else num_runs
        if len(logdirs) != want:
            raise ValueError(
                f"TensorBoardWriter got {len(logdirs)} log directories for "
                f"{'one run' if num_runs is None else f'{num_runs} runs'}; give one per run"
            )
        self.logdirs = [os.path.abspath(d) for d in logdirs]
        self.num_runs = num_runs
        self.step_key = step_key
        replay: list[list[bytes]] = [[] for _ in self.logdirs]
        for record in history:
            scalars = {k: v for k, v in record.items() if k != step_key}
            for r, event in enumerate(self._scalar_events(int(record[step_key]), scalars)):
                if event is not None:
                    replay[r].append(event)
        self._files = []
        for d, events in zip(self.logdirs, replay, strict=True):
            os.makedirs(d, exist_ok=True)
            self._files.append(_EventFile(d, events))

    def _per_run(self, v: Any, r: int) -> Any:
        if self.num_runs is not None and isinstance(v, list | tuple):
            if len(v) != self.num_runs:
                raise ValueError(f"a value has {len(v)} entries for {self.num_runs} runs: {v!r}")
            return v[r]
        return v

    def _scalar_events(self, step: int, scalars: Mapping[str, Any]) -> list[bytes | None]:
        out: list[bytes | None] = []
        now = time.time()
        for r in range(len(self.logdirs)):
            values = []
            for tag in sorted(scalars):
                x = _number(self._per_run(scalars[tag], r))
                if x is not None:
                    values.append(self._summary_pb2.Summary.Value(tag=tag, simple_value=x))
            if not values:
                out.append(None)
                continue
            event = self._event_pb2.Event(
                wall_time=now, step=step, summary=self._summary_pb2.Summary(value=values)
            )
            out.append(event.SerializeToString())
        return out

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        for f, event in zip(self._files, self._scalar_events(step, scalars), strict=True):
            if event is not None:
                f.write(event)
        self.flush()  # one flush per epoch: a live TensorBoard sees the epoch at once

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        """The HParams plugin's session start info of every run (its dashboard then compares
        all runs under one ``--logdir``: hyperparameters that differ are listed first)."""
        for r, f in enumerate(self._files):
            info = self._plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
            for name, value in sorted(hparams.items()):
                v = self._per_run(value, r)
                if isinstance(v, bool):
                    info.hparams[name].bool_value = v
                elif isinstance(v, int | float):
                    if not math.isfinite(float(v)):
                        info.hparams[name].string_value = str(v)
                    else:
                        info.hparams[name].number_value = float(v)
                elif isinstance(v, str):
                    info.hparams[name].string_value = v
                elif v is not None:
                    info.hparams[name].string_value = json.dumps(v)
            data = self._plugin_data_pb2.HParamsPluginData(session_start_info=info)
            summary = self._summary_pb2.Summary()
            summary.value.add(
                tag=self._metadata.SESSION_START_INFO_TAG,
                metadata=self._metadata.create_summary_metadata(data),
                tensor=self._metadata.NULL_TENSOR,
            )
            event = self._event_pb2.Event(wall_time=time.time(), step=0, summary=summary)
            f.write(event.SerializeToString())
        self.flush()

    def flush(self) -> None:
        for f in self._files:
            f.flush()

    def close(self) -> None:
        for f in self._files:
            f.close()


class MultiWriter(MetricWriter):
    """Several writers as one, in order (``metrics.jsonl`` first: it is the record)."""

    def __init__(self, writers: Sequence[MetricWriter]):
        self.writers = list(writers)

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        for w in self.writers:
            w.write_scalars(step, scalars)

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        for w in self.writers:
            w.write_hparams(hparams)

    def flush(self) -> None:
        for w in self.writers:
            w.flush()

    def close(self) -> None:
        errors = []
        for w in self.writers:
            try:
                w.close()
            except Exception as e:  # noqa: BLE001 -- close every writer, then raise the first
                errors.append(e)
        if errors:
            raise errors[0]


def flat_hparams(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as flat dotted names: numbers, strings and bools as they are; lists and
    tuples as JSON text (so a list value never reads as one value per run).

    Example:
        >>> flat_hparams({"loss": {"name": "gce", "hparams": {"q": 0.7}}, "seeds": (0, 1)})
        {'loss.name': 'gce', 'loss.hparams.q': 0.7, 'seeds': '[0, 1]'}
    """
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flat_hparams(v, key + "."))
        elif isinstance(v, list | tuple):
            out[key] = json.dumps(list(v), default=str)
        elif v is None or isinstance(v, bool | int | float | str):
            out[key] = v
        else:
            out[key] = str(v)
    return out


def run_hparams(per_run: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One hparams mapping from the flat hparams of R runs: a field equal in every run keeps
    its value, a field that differs becomes the list of the R values (`MetricWriter` values)."""
    keys = sorted({k for h in per_run for k in h})
    out: dict[str, Any] = {}
    for k in keys:
        values = [h.get(k) for h in per_run]
        out[k] = values[0] if all(v == values[0] for v in values) else values
    return out


def make_writers(
    names: Sequence[str],
    workdir: str,
    *,
    history: Sequence[Mapping[str, Any]] = (),
    num_runs: int | None = None,
    logdirs: Sequence[str] | None = None,
    hparams: Mapping[str, Any] | None = None,
) -> MultiWriter:
    """The writers ``names`` (``config.writers``) of a run in ``workdir``.

    Args:
        names: writer names from `WRITERS`; must include ``"jsonl"``.
        workdir: the run's directory (``metrics.jsonl``; default TensorBoard directories
            ``workdir/tensorboard`` for one run, ``workdir/tensorboard/run_<r>`` for R runs).
        history: the resumed history (replayed into TensorBoard; ``metrics.jsonl`` has it).
        num_runs: None for one run, else R vmapped runs.
        logdirs: TensorBoard directories, one per run, instead of the defaults (a sweep passes
            ``DIR/tensorboard/<cell id>``).
        hparams: written with ``write_hparams`` once the writers are open.

    Raises:
        ValueError: an unknown name, or no ``"jsonl"``.
    """
    unknown = [n for n in names if n not in WRITERS]
    if unknown or "jsonl" not in names:
        raise ValueError(
            f"config.writers={tuple(names)!r} is not valid; choose from {list(WRITERS)} and "
            "keep 'jsonl' (metrics.jsonl is the run's record: resuming and the summary read it)"
        )
    writers: list[MetricWriter] = [JsonlWriter(os.path.join(workdir, "metrics.jsonl"))]
    if "tensorboard" in names:
        if logdirs is None:
            root = os.path.join(workdir, "tensorboard")
            logdirs = [root] if num_runs is None else [f"{root}/run_{r}" for r in range(num_runs)]
        writers.append(TensorBoardWriter(logdirs, num_runs=num_runs, history=history))
    out = MultiWriter(writers)
    if hparams is not None:
        out.write_hparams(hparams)
    return out
