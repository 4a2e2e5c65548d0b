"""The streaming input pipeline (grain): batches decoded and augmented on host workers.

`stream_batches` turns a record source (`ArraySource`, `ImageFileSource`, `TfdsSource`) into an
iterator of training batches, `eval_batches` into evaluation chunks. Both are grain pipelines
over *batch numbers*: ``grain.MapDataset.range(first, last).map(<load batch b>)``, read by
``num_threads`` threads (``grain.ReadOptions``) and optionally ``workers`` processes
(``mp_prefetch``), with ``prefetch`` batches buffered ahead. Because an element is a whole
batch and its contents are a pure function of the batch number, the batches are the same
whatever the number of threads, workers or processes:

* **Order.** Epoch ``e``'s order is `epoch_order`: ``numpy.random.default_rng([*seed, e])
  .permutation(N)`` (``seed`` the data seed's words), cut into ``steps`` batches of ``B``, the
  last one padded with index ``N`` (masked rows) unless ``drop_last``. The memory pipeline of
  the harness uses the same function with the run key, so a stream whose seed words equal a
  run's key visits the examples in that run's order.
* **Augmentation.** Record ``c`` of batch ``b`` is transformed with
  ``numpy.random.default_rng([*seed, b, c])``.
* **Sharding.** Process ``p`` of ``P`` loads columns ``[p·B/P, (p+1)·B/P)`` of every global
  batch; ``jax.make_array_from_process_local_data`` reassembles the global batch, so the global
  batch does not depend on ``P`` either.
* **State.** The iterator's state is grain's (``get_state``/``set_state``, JSON-able) plus the
  batch number it started from; `Stream.state` / `Stream.restore` round-trip it, so a
  checkpointed iterator resumes at exactly the next batch.

A training batch is ``{"x": float32 [B/P, ...], "index": int32 [B/P], "bad": int32}`` (plus
``"label"`` when the source has labels): ``index`` is each row's position in the source (``N``
for padding), ``bad`` the number of rows whose image could not be read and were masked
(``bad_images="skip"``; with ``"fail"`` such an image raises `ImageReadError` naming the file).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ._images import ArraySource, ImageFileSource, ImageReadError, ImageTransform, TfdsSource

__all__ = ["Stream", "epoch_order", "eval_batches", "stream_batches"]


def epoch_order(
    seed: Sequence[int] | int,
    epoch: int,
    n: int,
    *,
    batch_size: int,
    steps: int,
    shuffle: bool = True,
    pad: int | None = None,
) -> np.ndarray:
    """The example order of one epoch, ``[steps, batch_size]`` int32 (``pad`` marks padding).

    ``numpy.random.default_rng([*seed, epoch]).permutation(n)`` (``arange(n)`` without
    ``shuffle``), padded with ``pad`` (default ``n``) up to ``steps · batch_size`` or cut to it.
    A function of the seed and the epoch only, so a resumed run sees the same order.

    Example:
      >>> epoch_order(0, 0, 5, batch_size=2, steps=3, shuffle=False).tolist()
      [[0, 1], [2, 3], [4, 5]]
    """
    words = [int(seed)] if isinstance(seed, int | np.integer) else [int(v) for v in seed]
    if shuffle:
        perm = np.random.default_rng(words + [int(epoch)]).permutation(n).astype(np.int32)
    else:
        perm = np.arange(n, dtype=np.int32)
    total = steps * batch_size
    if total > n:
        perm = np.concatenate([perm, np.full((total - n,), n if pad is None else pad, np.int32)])
    return perm[:total].reshape(steps, batch_size)


def _columns(batch_size: int, process_index: int, process_count: int) -> slice:
    if batch_size % process_count:
        raise ValueError(
            f"batch size {batch_size} must be a multiple of the process count {process_count}"
        )
    b = batch_size // process_count
    return slice(process_index * b, (process_index + 1) * b)


def _processes(process_index: int | None, process_count: int | None) -> tuple[int, int]:
    if process_index is None or process_count is None:
        import jax

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} not in [0, {process_count})")
    return int(process_index), int(process_count)


class _Loader:
    """Loads global batch number ``b`` (this process's columns): a grain map function."""

    def __init__(self, source, transform, seed, cols, bad_images, n):
        self.source, self.transform, self.seed = source, transform, list(seed)
        self.cols, self.bad_images, self.n = cols, bad_images, n
        self.labels = getattr(source, "labels", None)

    def _shape(self) -> tuple[int, ...]:
        return tuple(self.source.shape[1:])

    def _record(self, i: int, rng_key: list[int]) -> np.ndarray:
        src = self.source
        image = src.decode(i) if isinstance(src, ImageFileSource) else src[i]
        if self.transform is None:
            return np.asarray(image, np.float32)
        rng = np.random.default_rng(rng_key) if self.transform.random else None
        return self.transform(image, rng)

    def _assemble(self, b: int, rows: np.ndarray) -> dict:
        xs, index, bad = [], np.array(rows, np.int32), 0
        for c, i in enumerate(rows.tolist()):
            if i >= self.n:  # padding
                xs.append(None)
                continue
            try:
                xs.append(self._record(i, self.seed + [b, self.cols.start + c]))
            except ImageReadError:
                if self.bad_images != "skip":
                    raise
                xs.append(None)
                index[c] = self.n
                bad += 1
        ref = next((x for x in xs if x is not None), None)
        shape = ref.shape if ref is not None else self._shape()
        for c, x in enumerate(xs):
            if x is not None and x.shape != shape:
                raise ImageReadError(
                    f"image {self.source.describe(int(rows[c]))} gives shape {x.shape} after the "
                    f"transform, others {shape}; images of one batch must share a size (set an "
                    "image size so that they are cropped to it)"
                )
        x = np.stack([np.zeros(shape, np.float32) if v is None else v for v in xs])
        out = {"x": x, "index": index, "bad": np.int32(bad)}
        if self.labels is not None:
            lab = np.zeros(len(rows), np.int32)
            real = index < self.n
            lab[real] = self.labels[index[real]]
            out["label"] = lab
        return out


class _TrainLoader(_Loader):
    def __init__(self, source, transform, seed, cols, bad_images, n, plan):
        super().__init__(source, transform, seed, cols, bad_images, n)
        self.batch_size, self.steps, self.shuffle = plan
        self._lock = threading.Lock()
        self._orders: dict[int, np.ndarray] = {}

    def order(self, epoch: int) -> np.ndarray:
        with self._lock:
            if epoch not in self._orders:
                if len(self._orders) >= 2:
                    self._orders.pop(min(self._orders))
                self._orders[epoch] = epoch_order(
                    self.seed,
                    epoch,
                    self.n,
                    batch_size=self.batch_size,
                    steps=self.steps,
                    shuffle=self.shuffle,
                )
            return self._orders[epoch]

    def __getstate__(self):  # workers get a copy without the lock and the cache
        state = dict(self.__dict__)
        state.pop("_lock"), state.pop("_orders")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock, self._orders = threading.Lock(), {}

    def __call__(self, b: int) -> dict:
        b = int(b)
        epoch, i = divmod(b, self.steps)
        return self._assemble(b, self.order(epoch)[i, self.cols])


class _EvalLoader(_Loader):
    def __init__(self, source, transform, cols, n, chunk):
        super().__init__(source, transform, [0], cols, "fail", n)
        self.chunk = chunk

    def __call__(self, c: int) -> dict:
        rows = np.arange(int(c) * self.chunk, (int(c) + 1) * self.chunk)[self.cols]
        return self._assemble(int(c), np.where(rows < self.n, rows, self.n))


def _mark_flags_parsed() -> None:
    """grain's worker processes read an absl flag; outside an absl app nothing parsed them."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


class Stream:
    """An iterator of host batches (a grain pipeline) with a checkpointable state.

    Attributes:
      first: the batch number the pipeline starts from.
      last: one past the last batch number.
      position: the batch number `next` returns next.
    """

    def __init__(self, loader, first: int, last: int, *, threads: int, workers: int, prefetch: int):
        import grain

        if last < first:
            raise ValueError(f"a stream from batch {first} to {last} is empty")
        self.first, self.last, self.position = int(first), int(last), int(first)
        self._args = (loader, threads, workers, prefetch)
        ds = grain.MapDataset.range(self.first, self.last).map(loader)
        threads = max(1, threads)  # grain uses at most prefetch_buffer_size threads
        it_ds = ds.to_iter_dataset(
            grain.ReadOptions(num_threads=threads, prefetch_buffer_size=max(prefetch, threads))
        )
        if workers > 0:
            _mark_flags_parsed()
            it_ds = it_ds.mp_prefetch(
                grain.MultiprocessingOptions(
                    num_workers=workers, per_worker_buffer_size=max(1, prefetch)
                )
            )
        self._it = iter(it_ds)

    def __iter__(self) -> Iterator[dict]:
        return self

    def __next__(self) -> dict:
        if self.position >= self.last:
            raise StopIteration
        out = next(self._it)
        self.position += 1
        return out

    def state(self) -> dict:
        """JSON-able: the start batch, the position and grain's iterator state."""
        return {"first": self.first, "position": self.position, "grain": self._it.get_state()}

    def restore(self, state: dict) -> None:
        """Continues from a `state` of a stream built over the same batches."""
        if int(state["first"]) != self.first:
            raise ValueError(
                f"this stream starts at batch {self.first}, the saved state at {state['first']}: "
                "rebuild the stream from the saved start"
            )
        self._it.set_state(state["grain"])
        self.position = int(state["position"])

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()


def _check_source(source: Any) -> int:
    if not isinstance(source, ArraySource | ImageFileSource | TfdsSource):
        raise TypeError(
            f"source must be an ArraySource, ImageFileSource or TfdsSource, got {source!r}"
        )
    return len(source)


def stream_batches(
    source: ArraySource | ImageFileSource | TfdsSource,
    transform: ImageTransform | None = None,
    *,
    batch_size: int,
    num_epochs: int = 1,
    seed: Sequence[int] | int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    start: int = 0,
    bad_images: str = "fail",
    threads: int = 4,
    workers: int = 0,
    prefetch: int = 2,
    process_index: int | None = None,
    process_count: int | None = None,
) -> Stream:
    """Training batches of ``source``, streamed by grain (module docstring).

    Args:
      source: the records (`ArraySource`, `ImageFileSource` or `TfdsSource`).
      transform: the per-image work (`ImageTransform`); None passes records through as float32.
      batch_size: the *global* batch size B (every process loads ``B / process_count`` rows).
      num_epochs: epochs to stream; batch ``b`` is step ``b mod steps`` of epoch
        ``b div steps`` with ``steps = ceil(N/B)`` (``floor`` with ``drop_last``).
      seed: the data seed (an int, or the words of a key): sets the order and augmentation.
      shuffle: a new permutation every epoch (else the list order).
      drop_last: drop the last partial batch instead of padding it with index ``N`` rows.
      start: the first batch number (``epoch · steps + step``) to stream, for resuming.
      bad_images: ``"fail"`` (an unreadable image raises `ImageReadError` naming the file) or
        ``"skip"`` (its row becomes a masked padding row, counted in the batch's ``bad``).
      threads: reading threads per process (decoding releases the GIL).
      workers: worker processes (grain ``mp_prefetch``; 0 = none, the threads only).
      prefetch: batches buffered ahead per thread pool / worker.
      process_index, process_count: this process of the job (default ``jax.process_index()``
        and ``jax.process_count()``).

    Returns:
      A `Stream` of ``{"x", "index", "bad"[, "label"]}`` host batches.

    Example:
      >>> src = ArraySource(np.arange(10, dtype=np.float32).reshape(10, 1), np.zeros(10))
      >>> s = stream_batches(src, batch_size=4, shuffle=False, process_index=0, process_count=1)
      >>> [b["index"].tolist() for b in s]
      [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 10]]
    """
    n = _check_source(source)
    if bad_images not in ("fail", "skip"):
        raise ValueError(f"bad_images must be 'fail' or 'skip', got {bad_images!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    steps = n // batch_size if drop_last else math.ceil(n / batch_size)
    if steps < 1:
        raise ValueError(f"{n} records make no batch of {batch_size} with drop_last")
    p, count = _processes(process_index, process_count)
    cols = _columns(batch_size, p, count)
    words = [int(seed)] if isinstance(seed, int | np.integer) else [int(v) for v in seed]
    loader = _TrainLoader(
        source, transform, words, cols, bad_images, n, (batch_size, steps, shuffle)
    )
    return Stream(
        loader, start, num_epochs * steps, threads=threads, workers=workers, prefetch=prefetch
    )


def eval_batches(
    source: ArraySource | ImageFileSource | TfdsSource,
    transform: ImageTransform | None = None,
    *,
    batch_size: int,
    threads: int = 4,
    workers: int = 0,
    prefetch: int = 2,
    process_index: int | None = None,
    process_count: int | None = None,
) -> Stream:
    """Evaluation chunks of ``source`` in order: ``ceil(N/B)`` batches, the last padded.

    Same batch structure as `stream_batches` (padding rows have index ``N`` and zero images);
    an unreadable image always raises (an evaluation set must be complete).

    Example:
      >>> src = ArraySource(np.zeros((5, 2), np.float32))
      >>> [b["index"].tolist() for b in eval_batches(src, batch_size=4, process_index=0,
      ...                                                process_count=1)]
      [[0, 1, 2, 3], [4, 5, 5, 5]]
    """
    n = _check_source(source)
    chunks = max(1, math.ceil(n / batch_size))
    p, count = _processes(process_index, process_count)
    loader = _EvalLoader(source, transform, _columns(batch_size, p, count), n, batch_size)
    return Stream(loader, 0, chunks, threads=threads, workers=workers, prefetch=prefetch)
