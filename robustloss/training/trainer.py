"""The data-parallel training engine: train state, jitted step, epoch loop, evaluation.

The step is written once, for one run and the *global* batch, against an `Objective`. Data
parallelism comes from `jax.jit` + `NamedSharding` over a 1-D ``("data",)`` mesh: the training
arrays and the train state are replicated, each batch is constrained to be sharded along
``"data"``, and XLA inserts the all-reduces. The gradient is therefore the mean over the global
batch — identical to one device up to float summation order — and per-example objective state is
updated by global ``index`` whichever device holds the example (docs/design.md §7; this avoids
the ``shard_map`` + ``pmean`` pitfall of §11). BatchNorm statistics are over the global batch
too (synchronised BatchNorm), which keeps 1 and N devices equal.

Independent runs (seeds, noise draws) are a leading "runs" axis: with ``num_runs=R`` every
function is ``jax.vmap``-ed over the state (and over the labels when they differ per run) and
compiled once.

Host work per step is one dispatch. An epoch is either a `lax.scan` over its batches (one
dispatch per epoch; fastest for small MLPs) or a Python loop of jitted steps (convnets on
XLA:CPU, docs/design.md §11). On multi-device CPU the loop reads a scalar every ``sync_every``
steps to avoid XLA rendezvous timeouts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from robustloss.data import epoch_order
from robustloss.objective import Objective
from robustloss.training.epoch_stats import NO_NONFINITE, EpochStats
from robustloss.training.metrics import classification_metrics

PyTree = Any

__all__ = ["NONFINITE_KEY", "TrainState", "Trainer", "NonFiniteLossError", "make_mesh"]

#: With isolated runs (`Trainer.train_epoch` ``alive=``): the metrics key of each run's first
#: non-finite loss in the epoch.
NONFINITE_KEY = "nonfinite_runs"


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


class TrainState(NamedTuple):
    """Everything that changes during training; a pytree that is checkpointed as a whole.

    Attributes:
        params: model parameters.
        batch_stats: BatchNorm running statistics (``{}`` for models without BatchNorm).
        opt_state: optax state.
        aux: the objective's state (per-example arrays, transition matrices, ...).
        rng: ``uint32[2]`` base key of the run; shuffling and per-step keys are derived from it
            by ``fold_in`` of the epoch / step, so resuming reproduces them exactly.
        step: global optimizer step (int32).
        epoch: completed epochs (int32).
    """

    params: PyTree
    batch_stats: PyTree
    opt_state: PyTree
    aux: PyTree
    rng: jax.Array
    step: jax.Array
    epoch: jax.Array


def make_mesh(devices: list | None = None) -> Mesh:
    """A 1-D ``("data",)`` mesh over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), ("data",))


def pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
    """Appends zero rows to ``x`` until it has ``rows`` rows."""
    extra = rows - x.shape[0]
    if extra <= 0:
        return x
    return np.concatenate([x, np.zeros((extra,) + x.shape[1:], x.dtype)], axis=0)


class Trainer:
    """Compiled training and evaluation functions for one model/objective/optimizer.

    Args:
        model: a Linen module called as ``model.apply(variables, x, train=...)``.
        objective: the training `Objective`.
        tx: the optax optimizer.
        num_examples: N, training examples (indices ``0..N-1``; ``N`` marks padding).
        num_classes: K.
        batch_size: global batch size; must be a multiple of the number of devices.
        shuffle: reshuffle the training set every epoch (seeded by the run key and epoch);
            otherwise the fixed index order (LDR protocol).
        drop_last: drop the last partial batch instead of padding it with masked rows.
        epoch_mode: ``"scan"`` or ``"loop"``.
        mesh: the ``("data",)`` mesh (default: all local devices).
        augment: optional jittable ``(key, images) -> images`` applied to training batches.
        num_runs: ``None`` for one run, or R to vmap everything over a leading runs axis.
        labels_per_run: with ``num_runs``, whether training labels have a leading runs axis.
        sync_every: in loop mode, read a scalar every this many steps (0 = automatic: 8 on
            multi-device CPU, otherwise only once per epoch).
        eval_batch_size: examples per evaluation chunk (rounded up to the device count).
        lr_shape: with an optimizer of ``make_run_optimizer``, the schedule's shape (step ->
            multiplier of each run's base rate), for logging per-run ``lr``.
        run_examples: with ``num_runs``, each run's own number of training examples (<=
            ``num_examples``; its order covers ``0..n_r-1``, the rest of its batches are
            masked padding); None when every run has ``num_examples``.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        tx: optax.GradientTransformation,
        *,
        num_examples: int,
        num_classes: int,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        epoch_mode: str = "loop",
        mesh: Mesh | None = None,
        augment: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
        num_runs: int | None = None,
        labels_per_run: bool = True,
        sync_every: int = 0,
        eval_batch_size: int = 1000,
        lr_shape: optax.Schedule | None = None,
        run_examples: tuple[int, ...] | None = None,
    ):
        self.mesh = make_mesh() if mesh is None else mesh
        ndev = self.mesh.devices.size
        if batch_size < 1 or batch_size % ndev:
            raise ValueError(
                f"batch_size={batch_size} must be a positive multiple of the device count {ndev}"
            )
        if epoch_mode not in ("scan", "loop"):
            raise ValueError(f"epoch_mode must be 'scan' or 'loop', got {epoch_mode!r}")
        if drop_last and num_examples < batch_size:
            raise ValueError(
                f"drop_last with batch_size={batch_size} > num_examples={num_examples} leaves "
                "no batch"
            )
        self.model = model
        self.objective = objective
        self.tx = tx
        self.lr_shape = lr_shape
        self.run_examples = run_examples
        self.num_examples = num_examples
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch_mode = epoch_mode
        self.augment = augment
        self.num_runs = num_runs
        self.labels_per_run = labels_per_run and num_runs is not None
        if drop_last:
            self.steps_per_epoch = num_examples // batch_size
        else:
            self.steps_per_epoch = math.ceil(num_examples / batch_size)
        self.eval_chunk = math.ceil(eval_batch_size / ndev) * ndev
        on_cpu = self.mesh.devices.flat[0].platform == "cpu"
        if sync_every <= 0:
            sync_every = 8 if (ndev > 1 and on_cpu) else 0
        self.sync_every = sync_every
        self.replicated = NamedSharding(self.mesh, P())
        self.batch_sharding = NamedSharding(self.mesh, P("data"))
        self._stats_templates: dict[bool, EpochStats] = {}
        self._compiled: dict[str, Callable] = {}

    # ------------------------------------------------------------------ helpers (single run)
    def _variables(self, params: PyTree, batch_stats: PyTree) -> dict:
        if batch_stats:
            return {"params": params, "batch_stats": batch_stats}
        return {"params": params}

    def _init_one(self, key: jax.Array, sample_x: jax.Array) -> TrainState:
        k_model, k_aux = jax.random.split(jax.random.fold_in(key, 0))
        variables = self.model.init(k_model, sample_x, train=False)
        params = variables["params"]
        batch_stats = variables.get("batch_stats", {})
        aux = self.objective.init(self.num_examples, self.num_classes, k_aux)
        return TrainState(
            params=params,
            batch_stats=batch_stats,
            opt_state=self.tx.init(params),
            aux=aux,
            rng=key,
            step=jnp.zeros((), jnp.int32),
            epoch=jnp.zeros((), jnp.int32),
        )

    def _order_host(self, rng: np.ndarray, epoch: int, n: int | None = None) -> np.ndarray:
        """The epoch's example order ``[steps, B]`` (padding index N), computed on the host.

        ``numpy.random.default_rng((key, epoch)).permutation(N)``: a function of the run key and
        the epoch only, so a resumed run sees the same order. Host NumPy is ~50x faster here
        than an XLA:CPU sort-based ``jax.random.permutation`` (which dominated vmapped epochs).
        """
        n = self.num_examples if n is None else n
        seed = [int(v) for v in np.asarray(rng, np.uint32).reshape(-1)]
        # padding rows carry the index num_examples (masked, dropped)
        return epoch_order(
            seed,
            epoch,
            n,
            batch_size=self.batch_size,
            steps=self.steps_per_epoch,
            shuffle=self.shuffle,
            pad=self.num_examples,
        )

    def _orders(self, state: TrainState, epoch: int) -> jax.Array:
        rng = np.asarray(jax.device_get(state.rng))
        if self.num_runs:
            sizes = self.run_examples or (None,) * self.num_runs
            order = np.stack(
                [self._order_host(rng[r], epoch, sizes[r]) for r in range(self.num_runs)]
            )
        else:
            order = self._order_host(rng, epoch)
        return self.put(order)

    def _constrain(self, x: jax.Array) -> jax.Array:
        return jax.lax.with_sharding_constraint(x, self.batch_sharding)

    def _batch(self, state: TrainState, data: dict, order: jax.Array) -> tuple[dict, jax.Array]:
        """The step's batch (``x``, ``label``, ``index``, ``mask``[, ``clean_label``], sharded
        along ``"data"``, augmented) and the objective's key, from the state's step counter."""
        i = state.step % self.steps_per_epoch
        idx = self._constrain(jax.lax.dynamic_index_in_dim(order, i, keepdims=False))
        rows = idx if "rows" not in data else jnp.take(data["rows"], idx, axis=0)
        return self._labelled(state, data, idx, jnp.take(data["x"], rows, axis=0))

    def _stream_batch(self, state: TrainState, data: dict, ext: dict) -> tuple[dict, jax.Array]:
        """The step's batch from a streamed one (``ext``: ``x`` and ``index``, shared by the
        runs): each run's labels are gathered by ``index`` as in `_batch`."""
        return self._labelled(state, data, self._constrain(ext["index"]), ext["x"])

    def _labelled(self, state: TrainState, data: dict, idx: jax.Array, x: jax.Array):
        key = jax.random.fold_in(jax.random.fold_in(state.rng, 2), state.step)
        k_aug, k_obj = jax.random.split(key)
        x = self._constrain(x)
        if self.augment is not None:
            x = self._constrain(self.augment(k_aug, x))
        batch = {
            "x": x,
            "label": self._constrain(jnp.take(data["label"], idx, axis=0)),
            "index": idx,
            "mask": (idx < self.num_examples).astype(jnp.float32),
        }
        if "clean_label" in data:
            batch["clean_label"] = self._constrain(jnp.take(data["clean_label"], idx, axis=0))
        return batch, k_obj

    def _objective_loss(self, warm: bool) -> Callable:
        return self.objective.warmup_loss if warm else self.objective.loss

    def _warm(self, epoch: int) -> bool:
        """Whether ``epoch`` (from 0) is a warm-up epoch trained with ``warmup_loss``."""
        o = self.objective
        return o.warmup_loss is not None and epoch < o.warmup_epochs

    def _forward(
        self, params: PyTree, state: TrainState, batch: dict, key: jax.Array, warm: bool = False
    ) -> tuple[jax.Array, tuple]:
        """The objective (its warm-up objective when ``warm``) on train-mode logits:
        ``(loss, (logits, batch_stats, aux, metrics))``."""
        variables = self._variables(params, state.batch_stats)
        if state.batch_stats:
            logits, updates = self.model.apply(
                variables, batch["x"], train=True, mutable=["batch_stats"]
            )
            new_bs = updates["batch_stats"]
        else:
            logits = self.model.apply(variables, batch["x"], train=True)
            new_bs = state.batch_stats
        loss, aux, metrics = self._objective_loss(warm)(logits, batch, state.aux, key)
        return loss, (logits, new_bs, aux, metrics)

    def _step_one(
        self,
        state: TrainState,
        stats: EpochStats,
        data: dict,
        order: jax.Array,
        alive: jax.Array | None = None,
        warm: bool = False,
    ) -> tuple[TrainState, EpochStats]:
        """One optimizer step of one run. With ``alive`` (a bool: this run still trains), a
        run that is stopped, or whose loss is non-finite at this step, keeps its parameters,
        BatchNorm statistics, optimizer and objective state (they are frozen); its step counter
        still advances, so all runs of a pack stay in step. The other runs' arithmetic is
        unchanged (vmapped runs never mix), so their numbers do not depend on a frozen run."""
        batch, key = self._batch(state, data, order)
        return self._update(state, stats, batch, key, warm, alive)

    def _step_stream_one(
        self,
        state: TrainState,
        stats: EpochStats,
        data: dict,
        ext: dict,
        alive: jax.Array | None = None,
        warm: bool = False,
    ) -> tuple[TrainState, EpochStats]:
        """`_step_one` on a streamed batch ``ext`` (``{"x", "index"}``)."""
        batch, key = self._stream_batch(state, data, ext)
        return self._update(state, stats, batch, key, warm, alive)

    def _update(
        self,
        state: TrainState,
        stats: EpochStats,
        batch: dict,
        key: jax.Array,
        warm: bool,
        alive: jax.Array | None = None,
    ) -> tuple[TrainState, EpochStats]:
        grad_fn = jax.value_and_grad(self._forward, has_aux=True)
        (loss, (logits, new_bs, aux, metrics)), grads = grad_fn(
            state.params, state, batch, key, warm
        )
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        last = state.step % self.steps_per_epoch == self.steps_per_epoch - 1
        new_state = TrainState(
            params=optax.apply_updates(state.params, updates),
            batch_stats=new_bs,
            opt_state=opt_state,
            aux=aux,
            rng=state.rng,
            step=state.step + 1,
            epoch=state.epoch + last.astype(jnp.int32),
        )
        if alive is not None:
            ok = alive & jnp.isfinite(loss) & (stats.nonfinite == NO_NONFINITE)
            keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)
            new_state = new_state._replace(
                params=keep(new_state.params, state.params),
                batch_stats=keep(new_state.batch_stats, state.batch_stats),
                opt_state=keep(new_state.opt_state, state.opt_state),
                aux=keep(new_state.aux, state.aux),
            )
        stats = stats.update(
            loss=loss,
            mask=batch["mask"],
            pred=jnp.argmax(logits, axis=-1),
            labels=batch["label"],
            clean_labels=batch.get("clean_label"),
            step=state.step,
            metrics=metrics,
        )
        return new_state, stats

    def _epoch_one(
        self,
        state: TrainState,
        stats: EpochStats,
        data: dict,
        order: jax.Array,
        alive: jax.Array | None = None,
        warm: bool = False,
    ) -> tuple[TrainState, EpochStats]:
        def body(carry, _):
            return self._step_one(*carry, data, order, alive, warm), None

        (state, stats), _ = jax.lax.scan(body, (state, stats), None, length=self.steps_per_epoch)
        return state, stats

    def _predict_one(self, state: TrainState, x: jax.Array) -> jax.Array:
        x = self._constrain(x)
        return self.model.apply(self._variables(state.params, state.batch_stats), x, train=False)

    # ------------------------------------------------------------------ vmapping + jit
    def _data_axes(self, data: dict) -> dict:
        axes = {k: None for k in data}
        if self.labels_per_run:
            axes["label"] = 0
        if "rows" in data:  # per-run training rows (folds): rows and clean labels per run
            axes["rows"] = 0
            if "clean_label" in data:
                axes["clean_label"] = 0
        return axes

    def _jit(self, name: str, fn: Callable, donate: tuple[int, ...] = ()) -> Callable:
        if name not in self._compiled:
            self._compiled[name] = jax.jit(fn, out_shardings=self.replicated, donate_argnums=donate)
        return self._compiled[name]

    def _maybe_vmap(self, fn: Callable, in_axes: tuple) -> Callable:
        if self.num_runs is None:
            return fn
        return jax.vmap(fn, in_axes=in_axes)

    def put(self, tree: PyTree) -> PyTree:
        """Places host arrays on the mesh, replicated."""
        return jax.device_put(tree, self.replicated)

    def prepare_train_data(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        clean_labels: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> dict:
        """Puts the training set on the devices, with one zero padding row at index N.

        Args:
            x: ``[N, ...]`` inputs.
            labels: ``[N]`` (or ``[R, N]`` with ``labels_per_run``) noisy int labels.
            clean_labels: optional ``[N]`` true labels (for the memorisation diagnostic);
                ``[R, N]`` with ``rows``.
            rows: with ``num_runs``, optional ``[R, N]`` rows of ``x`` (then any number of
                rows, e.g. the whole training file of k-fold runs) forming run ``r``'s
                training set in index order; padding rows may be ``len(x)`` (a zero row).

        Returns:
            A dict of replicated device arrays for `train_epoch`. With ``x=None`` (a streamed
            training set: `train_epoch` gets the images batch by batch) only the labels.
        """
        n = self.num_examples
        if x is None:
            if rows is not None:
                raise ValueError("rows select from x; a streamed training set has none")
        elif rows is not None:
            rows = np.asarray(rows, np.int32)
            if self.num_runs is None or rows.shape != (self.num_runs, n):
                raise ValueError(f"rows have shape {rows.shape}, expected {(self.num_runs, n)}")
            if rows.min() < 0 or rows.max() > x.shape[0]:
                raise ValueError(f"rows must lie in [0, {x.shape[0]}] (len(x) = padding)")
        elif x.shape[0] != n:
            raise ValueError(f"x has {x.shape[0]} rows, expected num_examples={n}")
        labels = np.asarray(labels, np.int32)
        expect = (self.num_runs, n) if self.labels_per_run else (n,)
        if labels.shape != expect:
            raise ValueError(f"labels have shape {labels.shape}, expected {expect}")
        pad = lambda a: np.concatenate([a, np.zeros(a.shape[:-1] + (1,), np.int32)], -1)
        data = {"label": pad(labels)}
        if x is not None:
            data["x"] = pad_rows(np.asarray(x, np.float32), x.shape[0] + 1)
        if rows is not None:
            data["rows"] = np.concatenate([rows, np.full((rows.shape[0], 1), x.shape[0])], -1)
        if clean_labels is not None:
            data["clean_label"] = pad(np.asarray(clean_labels, np.int32))
        return self.put(data)

    def init(self, seed_or_keys: int | jax.Array, sample_x: np.ndarray) -> TrainState:
        """Initialises the train state (replicated on the mesh).

        Args:
            seed_or_keys: an int seed (with ``num_runs``, run ``r`` uses ``seed + r``), or a
                raw ``uint32[2]`` key (``[R, 2]`` keys with ``num_runs``).
            sample_x: a few example inputs ``[b, ...]`` (shapes only).

        Returns:
            A `TrainState` (leading runs axis when ``num_runs`` is set).
        """
        if isinstance(seed_or_keys, int | np.integer):
            if self.num_runs is None:
                keys = jax.random.PRNGKey(int(seed_or_keys))
            else:
                keys = jnp.stack(
                    [jax.random.PRNGKey(int(seed_or_keys) + r) for r in range(self.num_runs)]
                )
        else:
            keys = jnp.asarray(seed_or_keys)
        sample = jnp.asarray(np.asarray(sample_x[:1], np.float32))
        fn = self._maybe_vmap(lambda k: self._init_one(k, sample), (0,))
        return self._jit("init", fn)(keys)

    def _empty_stats(self, state: TrainState, data: dict, warm: bool = False) -> EpochStats:
        if warm not in self._stats_templates:
            b, k = self.batch_size, self.num_classes
            batch = {
                "label": jnp.zeros((b,), jnp.int32),
                "index": jnp.zeros((b,), jnp.int32),
                "mask": jnp.ones((b,), jnp.float32),
            }
            if "clean_label" in data:
                batch["clean_label"] = batch["label"]
            aux_one = jax.tree.map(lambda a: a[0], state.aux) if self.num_runs else state.aux
            objective_loss = self._objective_loss(warm)
            metrics = jax.eval_shape(
                lambda aux: objective_loss(jnp.zeros((b, k)), batch, aux, jax.random.key(0))[2],
                aux_one,
            )
            self._stats_templates[warm] = EpochStats.empty(metrics, has_clean="clean_label" in data)
        stats = self._stats_templates[warm]
        if self.num_runs:
            stats = jax.tree.map(lambda v: np.full((self.num_runs,), v), stats)
        return self.put(stats)

    def epoch_stats(self, state: TrainState, data: dict) -> EpochStats:
        """The empty running statistics of the epoch ``state`` is in (a restore target)."""
        return self._empty_stats(state, data, self._warm(int(jax.device_get(state.epoch).flat[0])))

    def train_epoch(
        self,
        state: TrainState,
        data: dict,
        batches: Any = None,
        *,
        stats: EpochStats | None = None,
        on_step: Callable[[TrainState, EpochStats], None] | None = None,
        alive: np.ndarray | None = None,
    ) -> tuple[TrainState, dict]:
        """Runs one epoch (the rest of it, when ``state`` is mid-epoch); returns the new state
        and host metrics.

        The metrics are ``loss`` (mean objective over real examples), ``acc_noisy`` /
        ``acc_clean`` (training-batch accuracy against the noisy / clean labels, in train mode)
        and the objective's own metrics averaged over steps (as ``obj/<key>``). Values are
        floats, or lists of R floats with ``num_runs``.

        Args:
            state: the train state.
            data: `prepare_train_data`'s arrays.
            batches: a streamed training set: an iterator of ``{"x", "index"}`` device batches
                (global, sharded along ``"data"``), one per remaining step of the epoch; every
                run of a vmapped program trains on the same batch with its own labels
                (gathered by ``index``). None: the device-resident ``data["x"]``.
            stats: the running statistics of a partly trained epoch (restored with a
                mid-epoch checkpoint); None starts them empty.
            on_step: called with ``(state, stats)`` after every step (loop mode), e.g. to
                save a mid-epoch checkpoint.
            alive: with ``num_runs``, optional ``[R]`` bools: *isolate* the runs. A run that is
                not alive, or whose loss goes non-finite during the epoch, is frozen from that
                step on (`_update`) instead of stopping the program; the metrics then hold
                `NONFINITE_KEY`: per run None, or ``{"epoch", "step", "global_step", "value"}``
                of its first non-finite loss in this epoch. Its other values for the epoch are
                meaningless (the caller discards them).

        Raises:
            NonFiniteLossError: without ``alive``, the loss became NaN/inf; the message gives
                the epoch, the step and the value.
        """
        epoch0 = int(jax.device_get(state.epoch).flat[0])
        done = int(jax.device_get(state.step).flat[0]) - epoch0 * self.steps_per_epoch
        warm = self._warm(epoch0)
        isolate = alive is not None
        if isolate and not self.num_runs:
            raise ValueError("alive (isolated runs) needs num_runs")
        suffix = ("_warm" if warm else "") + ("_isolated" if isolate else "")
        if stats is None:
            stats = self._empty_stats(state, data, warm)
        data_axes = self._data_axes(data)
        extra = (self.put(np.asarray(alive, bool).reshape(self.num_runs)),) if isolate else ()
        alive_axis = (0,) if isolate else ()

        def check(i: int) -> None:  # a host sync every sync_every steps (loop modes)
            if self.sync_every and (i + 1) % self.sync_every == 0 and not isolate:
                got = jax.device_get((stats.nonfinite, stats.nonfinite_loss))
                self._check_finite(np.asarray(got[0]), epoch0, got[1])

        if batches is not None:
            fn = self._maybe_vmap(
                functools.partial(self._step_stream_one, warm=warm),
                (0, 0, data_axes, None) + alive_axis,
            )
            step = self._jit("stream_step" + suffix, fn, donate=(0, 1))
            for i in range(done, self.steps_per_epoch):
                state, stats = step(state, stats, data, next(batches), *extra)
                if on_step is not None:
                    on_step(state, stats)
                check(i)
        else:
            order = self._orders(state, epoch0)
            if done and self.epoch_mode == "scan":
                raise ValueError("a scan epoch cannot start mid-epoch; use epoch_mode='loop'")
            axes = (0, 0, data_axes, 0) + alive_axis
            if self.epoch_mode == "scan":
                fn = self._maybe_vmap(functools.partial(self._epoch_one, warm=warm), axes)
                epoch = self._jit("epoch" + suffix, fn, donate=(0, 1))
                state, stats = epoch(state, stats, data, order, *extra)
            else:
                fn = self._maybe_vmap(functools.partial(self._step_one, warm=warm), axes)
                step = self._jit("step" + suffix, fn, donate=(0, 1))
                for i in range(done, self.steps_per_epoch):
                    state, stats = step(state, stats, data, order, *extra)
                    if on_step is not None:
                        on_step(state, stats)
                    check(i)
        host = jax.device_get(stats)
        metrics = {k: _to_py(v) for k, v in host.compute().items()}
        if isolate:
            metrics[NONFINITE_KEY] = self._nonfinite_runs(host)
        else:
            self._check_finite(np.asarray(host.nonfinite), epoch0, host.nonfinite_loss)
        return state, metrics

    def _nonfinite_runs(self, host: EpochStats) -> list[dict | None]:
        steps = np.asarray(host.nonfinite).reshape(-1)
        values = np.asarray(host.nonfinite_loss, np.float64).reshape(-1)
        out: list[dict | None] = []
        for gstep, value in zip(steps.tolist(), values.tolist(), strict=True):
            if gstep == NO_NONFINITE:
                out.append(None)
                continue
            out.append(
                {
                    "epoch": gstep // self.steps_per_epoch + 1,
                    "step": gstep % self.steps_per_epoch,
                    "global_step": gstep,
                    "value": str(value),  # "nan" / "inf": JSON has no non-finite numbers
                }
            )
        return out

    def _check_finite(self, nonfinite: np.ndarray, epoch0: int, values=None) -> None:
        bad = np.asarray(nonfinite).reshape(-1)
        hit = np.nonzero(bad != NO_NONFINITE)[0]
        if hit.size:
            run = int(hit[0])
            gstep = int(bad[run])
            epoch = gstep // self.steps_per_epoch
            where = f" in run {run}" if self.num_runs else ""
            value = ""
            if values is not None:
                value = f" ({float(np.asarray(values, np.float64).reshape(-1)[run])})"
            raise NonFiniteLossError(
                f"non-finite training loss{value}{where} at epoch {epoch} (counted from 0; "
                f"started epoch {epoch0}), step {gstep % self.steps_per_epoch} of "
                f"{self.steps_per_epoch} in that epoch (global step {gstep}); lower the "
                "learning rate, enable optimizer.clip_norm, or check the loss hyperparameters"
            )

    def predict(
        self, state: TrainState, x: np.ndarray | jax.Array, per_run: bool = False
    ) -> jax.Array:
        """Eval-mode logits ``[n, K]`` (``[R, n, K]`` with runs) for inputs ``x [n, ...]``.

        With ``per_run`` (and ``num_runs``), ``x`` is ``[R, n, ...]``: run ``r`` predicts
        ``x[r]`` (e.g. its own validation fold).
        """
        if per_run and self.num_runs is None:
            raise ValueError("per_run inputs need num_runs")
        lead = 1 if per_run else 0
        n = x.shape[lead]
        chunk = self.eval_chunk
        num_chunks = max(1, math.ceil(n / chunk))
        total = num_chunks * chunk
        if isinstance(x, np.ndarray):
            x = np.asarray(x, np.float32)
            if n != total:
                widths = [(0, 0)] * x.ndim
                widths[lead] = (0, total - n)
                x = np.pad(x, widths)
            x = self.put(x)
        elif n != total:
            widths = [(0, 0)] * x.ndim
            widths[lead] = (0, total - n)
            x = jnp.pad(x, widths)
        x = x.reshape(x.shape[:lead] + (num_chunks, chunk) + x.shape[lead + 1 :])
        if per_run:  # [chunks, R, chunk, ...]
            x = jnp.moveaxis(x, 0, 1)
        one = self._maybe_vmap(self._predict_one, (0, 0 if per_run else None))
        tag = "_per_run" if per_run else ""
        if self.epoch_mode == "scan":
            fn = self._jit("predict_all" + tag, lambda s, xs: jax.lax.map(lambda c: one(s, c), xs))
            logits = fn(state, x)  # [chunks, (R,) chunk, K]
            if self.num_runs:
                logits = jnp.moveaxis(logits, 1, 0)
            logits = logits.reshape(logits.shape[:-3] + (-1, logits.shape[-1]))
        else:
            fn = self._jit("predict" + tag, one)
            parts = [fn(state, x[c]) for c in range(num_chunks)]
            logits = jnp.concatenate(parts, axis=-2)
        return logits[..., :n, :]

    def predict_chunks(self, state: TrainState, chunks: Any, n: int) -> jax.Array:
        """Eval-mode logits ``[n, K]`` (``[R, n, K]`` with runs) of a streamed evaluation set.

        Args:
            state: train state.
            chunks: iterable of ``[eval_chunk, ...]`` device arrays (sharded along ``"data"``),
                the set in order, the last chunk padded.
            n: the number of real rows.
        """
        one = self._maybe_vmap(self._predict_one, (0, None))
        fn = self._jit("predict", one)
        parts = [fn(state, x) for x in chunks]
        return jnp.concatenate(parts, axis=-2)[..., :n, :]

    def evaluate(
        self,
        state: TrainState,
        x: np.ndarray | jax.Array,
        labels: np.ndarray,
        logits: jax.Array | None = None,
        sizes: tuple[int, ...] | None = None,
    ) -> dict:
        """Top-1..5 and balanced accuracy of the eval-mode model on ``(x, labels)``.

        Args:
            state: train state.
            x: ``[n, ...]`` inputs (ignored when ``logits`` is given).
            labels: ``[n]`` (or ``[R, n]``) int labels.
            logits: optional precomputed `predict` output.
            sizes: with runs, each run's number of real rows of ``labels [R, n]`` (the rest is
                padding); metrics are then computed over ``[:sizes[r]]`` per run.

        Returns:
            Dict of floats (lists of R floats with runs): ``top1``.. ``top5``, ``balanced_acc``.
        """
        if logits is None:
            logits = self.predict(state, x)
        labels = jnp.asarray(np.asarray(labels, np.int32))
        k = self.num_classes
        fn = lambda lg, y: classification_metrics(lg, y, k)
        if sizes is not None:
            one = self._jit("metrics_one", fn)
            outs = [jax.device_get(one(logits[r, :m], labels[r, :m])) for r, m in enumerate(sizes)]
            return {name: [float(o[name]) for o in outs] for name in outs[0]}
        if self.num_runs:
            fn = jax.vmap(fn, in_axes=(0, 0 if labels.ndim == 2 else None))
        out = jax.device_get(self._jit(f"metrics{labels.ndim}", fn)(logits, labels))
        return {name: _to_py(v) for name, v in out.items()}

    def refresh(
        self,
        state: TrainState,
        x_train: np.ndarray | jax.Array,
        labels: Any,
        per_run: bool = False,
        logits: jax.Array | None = None,
    ) -> TrainState:
        """Calls the objective's ``refresh`` with eval-mode logits of the whole training set
        (``logits`` when given, e.g. from a streamed training set; else `predict` on
        ``x_train``).

        Compiled once: the epoch (epochs completed minus one) is passed as a traced int32, so
        refreshing after several epochs reuses one program.
        """
        if logits is None:
            logits = self.predict(state, x_train, per_run=per_run)
        labels = self.put(np.asarray(labels, np.int32))
        epoch = self.put(np.int32(int(jax.device_get(state.epoch).flat[0]) - 1))
        fn = self._maybe_vmap(
            self.objective.refresh, (0, 0, 0 if self.labels_per_run else None, None)
        )
        aux = self._jit("refresh", fn)(state.aux, logits, labels, epoch)
        return state._replace(aux=aux)


def _to_py(v: Any) -> float | list[float]:
    arr = np.asarray(v, np.float64)
    return float(arr) if arr.ndim == 0 else arr.tolist()
