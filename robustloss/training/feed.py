"""The inputs of a run: the training set on the devices, or streamed by grain.

`make_feed` dispatches on ``config.dataset.pipeline``:

* ``"memory"`` (`MemoryFeed`): the training set lives on the devices and every step gathers its
  batch by index (`Trainer.prepare_train_data`); evaluation sets are put on the devices whole.
* ``"stream"`` (`StreamFeed`): only the labels live on the devices; images come batch by batch
  from `robustloss.data.stream_batches` (decoded and augmented by host threads/processes, the
  order and augmentation set by ``dataset.data_seed``) and each run's labels are gathered by the
  batch's ``index``, so R vmapped runs share one decoded batch. Evaluation sets and the
  refresh pass stream through `robustloss.data.eval_batches`. With ``checkpoint_steps`` the
  feed saves mid-epoch checkpoints holding the iterator's state and resumes from them.

Both give `robustloss.training.run.train` the same calls: `resume`, `train_epoch`,
`refresh`, `train_logits`, `eval_input` / `predict`, `close`.
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import numpy as np

from robustloss.data import ImageTransform, eval_batches, stream_batches
from robustloss.training.build import RunData
from robustloss.training.trainer import Trainer, TrainState

__all__ = ["MemoryFeed", "StreamFeed", "make_feed", "stream_transforms"]


def make_feed(config: ml_collections.ConfigDict, trainer: Trainer, data: RunData):
    """The run's inputs for ``config.dataset.pipeline`` (module docstring)."""
    if config.dataset.get("pipeline", "memory") == "stream":
        return StreamFeed(config, trainer, data)
    return MemoryFeed(config, trainer, data)


def _clean_labels(data: RunData) -> np.ndarray | None:
    """The clean training labels where the dataset publishes all of them (``train/acc_clean``
    is logged only then)."""
    return data.y_train_clean if data.clean_train_known else None


def _counts_bad_images(config: ml_collections.ConfigDict) -> bool:
    d = config.dataset
    return d.name == "image_list" and d.get("bad_images", "fail") == "skip"


class MemoryFeed:
    """The training set (and evaluation sets) resident on the devices."""

    def __init__(self, config: ml_collections.ConfigDict, trainer: Trainer, data: RunData):
        self.trainer, self.data = trainer, data
        self.count_bad = _counts_bad_images(config)
        self.train_data = trainer.prepare_train_data(
            data.x_train, data.y_train, _clean_labels(data), rows=data.train_rows
        )
        self.x_refresh, self.refresh_per_run = self.train_data["x"][:-1], False
        if data.train_rows is not None:  # each run refreshes on its own training rows
            rows = self.train_data["rows"][:, :-1]
            self.x_refresh, self.refresh_per_run = self.train_data["x"][rows], True

    def resume(self, state: TrainState, workdir: Any) -> TrainState:
        del workdir  # epoch checkpoints only
        return state

    def train_epoch(
        self, state: TrainState, workdir: Any = None, alive: np.ndarray | None = None
    ) -> tuple[TrainState, dict]:
        """One epoch (`Trainer.train_epoch`; ``alive``: its isolated runs)."""
        del workdir
        state, stats = self.trainer.train_epoch(state, self.train_data, alive=alive)
        if self.count_bad:
            stats["bad_images"] = float(self.data.bad_images)
        return state, stats

    def train_logits(self, state: TrainState) -> jax.Array:
        """The model's logits on the training set (``[R, N, K]`` per run's own rows with folds)."""
        return self.trainer.predict(state, self.x_refresh, per_run=self.refresh_per_run)

    def refresh(self, state: TrainState) -> TrainState:
        return self.trainer.refresh(state, None, self.data.y_train, logits=self.train_logits(state))

    def eval_input(self, x: np.ndarray) -> Any:
        return self.trainer.put(x)

    def predict(self, state: TrainState, x: Any, per_run: bool = False) -> jax.Array:
        return self.trainer.predict(state, x, per_run=per_run)

    def close(self) -> None:
        pass


def stream_transforms(
    config: ml_collections.ConfigDict,
    image_size: int | None = None,
    resize_fraction: float = ImageTransform.resize_fraction,
) -> tuple[ImageTransform, ImageTransform]:
    """The host transforms ``(train, eval)`` of a streamed run.

    With an image size ``S`` (``image_size``: `RunData.image_size`, default
    ``dataset.image_size``; a real-noise file dataset's standard size when that is 0): training
    images are random-resized crops to ``S×S`` with a flip when ``augment``, else cropped like
    evaluation images: the shorter side resized to ``S / resize_fraction``, then the central
    ``S×S`` (the memory pipeline's decoding of the same files, so both pipelines evaluate the
    same pixels). Without (records of one size): the images as they are; ``augment`` then runs
    on the device (pad-4 crop + flip, as in the memory pipeline). Both normalise with
    ``dataset.mean``/``std`` when set.
    """
    d = config.dataset
    norm = {"mean": tuple(d.mean), "std": tuple(d.std)}
    size = d.get("image_size", 0) if image_size is None else image_size
    if not size:
        return ImageTransform(**norm), ImageTransform(**norm)
    evaluate = ImageTransform(size=size, crop="center", resize_fraction=resize_fraction, **norm)
    if config.augment:
        return ImageTransform(size=size, crop="random_resized", flip=True, **norm), evaluate
    return evaluate, evaluate


def data_seed_words(seed: int) -> list[int]:
    """The words of ``jax.random.PRNGKey(seed)``: the stream's order seed, so that a stream with
    ``data_seed = s`` visits the examples in the order of a memory run with ``seed = s``."""
    return [int(v) for v in np.asarray(jax.random.PRNGKey(int(seed)), np.uint32).reshape(-1)]


class StreamFeed:
    """Training batches, evaluation sets and the refresh pass streamed by grain."""

    def __init__(self, config: ml_collections.ConfigDict, trainer: Trainer, data: RunData):
        d = config.dataset
        self.config, self.trainer, self.data = config, trainer, data
        self.count_bad = _counts_bad_images(config)
        self.train_data = trainer.prepare_train_data(None, data.y_train, _clean_labels(data))
        self.train_tf, self.eval_tf = stream_transforms(
            config, data.image_size, data.resize_fraction
        )
        self.seed = data_seed_words(d.data_seed)
        self.options = {"threads": d.threads, "workers": d.workers, "prefetch": d.prefetch}
        # Evaluation streams are short-lived: threads only (no worker start-up per evaluation).
        self.eval_options = {"threads": max(d.threads, d.workers), "prefetch": d.prefetch}
        self.stream = None
        self.stats = None  # running statistics of a restored mid-epoch checkpoint
        self.restored: dict | None = None
        self.skipped = 0  # images masked in this epoch because they could not be decoded

    def _put(self, x: np.ndarray) -> jax.Array:
        return jax.make_array_from_process_local_data(self.trainer.batch_sharding, x)

    def resume(self, state: TrainState, workdir: Any) -> TrainState:
        """Continues from a mid-epoch checkpoint of the epoch ``state`` starts, if there is one."""
        if workdir is None or not self.config.checkpoint_steps:
            return state
        spe = self.trainer.steps_per_epoch
        epoch = int(jax.device_get(state.epoch).flat[0])
        template = self.trainer.epoch_stats(state, self.train_data)
        got = workdir.restore_mid_epoch(state, template, epoch * spe, (epoch + 1) * spe)
        if got is None:
            return state
        state, self.stats, self.restored = got
        self.skipped = int(self.restored["skipped"])
        return state

    def _open(self, state: TrainState) -> None:
        d, c = self.config.dataset, self.config
        step = int(jax.device_get(state.step).flat[0])
        first = int(self.restored["stream"]["first"]) if self.restored else step
        self.stream = stream_batches(
            self.data.x_train,
            self.train_tf,
            batch_size=self.trainer.batch_size,
            num_epochs=c.num_epochs,
            seed=self.seed,
            shuffle=c.shuffle,
            drop_last=c.drop_last,
            start=first,
            bad_images=d.bad_images,
            **self.options,
        )
        if self.restored:
            self.stream.restore(self.restored["stream"])
        if self.stream.position != step:
            raise RuntimeError(
                f"the input stream is at batch {self.stream.position} but the train state at "
                f"step {step}; the mid-epoch checkpoint does not belong to this state"
            )

    def _batches(self):
        while True:
            host = next(self.stream)
            self.skipped += int(host["bad"])
            yield {"x": self._put(host["x"]), "index": self._put(host["index"])}

    def train_epoch(
        self, state: TrainState, workdir: Any = None, alive: np.ndarray | None = None
    ) -> tuple[TrainState, dict]:
        """The rest of the epoch from the stream (`Trainer.train_epoch`; ``alive``: its isolated
        runs), saving mid-epoch checkpoints every ``checkpoint_steps``."""
        if self.stream is None:
            self._open(state)
        on_step = None
        every, spe = self.config.checkpoint_steps, self.trainer.steps_per_epoch
        if workdir is not None and every:

            def on_step(st: TrainState, stats: Any) -> None:
                step = self.stream.position  # batches consumed = the state's global step
                if step % every == 0 and step % spe:
                    inputs = {"stream": self.stream.state(), "skipped": self.skipped}
                    workdir.save_mid_epoch(step, st, stats, inputs)

        state, stats = self.trainer.train_epoch(
            state, self.train_data, self._batches(), stats=self.stats, on_step=on_step, alive=alive
        )
        self.stats = None
        if self.count_bad:
            stats["bad_images"] = float(self.data.bad_images + self.skipped)
        self.skipped = 0
        return state, stats

    def train_logits(self, state: TrainState) -> jax.Array:
        """The model's logits on the training set, streamed (evaluation transform)."""
        return self.predict(state, self.data.x_train)

    def refresh(self, state: TrainState) -> TrainState:
        return self.trainer.refresh(state, None, self.data.y_train, logits=self.train_logits(state))

    def eval_input(self, x: Any) -> Any:
        return x  # a record source, streamed at every evaluation

    def predict(self, state: TrainState, x: Any, per_run: bool = False) -> jax.Array:
        if per_run:
            raise ValueError("per-run evaluation sets (folds) need dataset.pipeline='memory'")
        chunks = eval_batches(
            x, self.eval_tf, batch_size=self.trainer.eval_chunk, **self.eval_options
        )
        try:
            return self.trainer.predict_chunks(state, (self._put(b["x"]) for b in chunks), len(x))
        finally:
            chunks.close()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
