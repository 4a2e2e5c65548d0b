"""Per-example diagnostics of label noise: per-epoch noise metrics and ``examples.parquet``.

Every ``config.diagnostics.every`` epochs (default -1: every ``ceil(num_epochs / 10)``, about
ten points per run, with the memory pipeline, and off -- ``examples.parquet`` too -- with the
stream pipeline, where each diagnosis streams the whole training set once more; 0: off) and
after the last, one eval-mode pass over the training set
(`Trainer.predict`, the same program as the evaluation) gives every training example's logits;
a jitted reduction turns them into a few scalars on device (vmapped over runs), so no
per-example work happens on the host. With ``y~`` the given (noisy) label, ``y`` the clean
label, *noisy* = ``{i: y~_i != y_i}`` and "predicted as c" = a top-1 hit for c with the
evaluation's tie rule (`robustloss.training.label_rank`: a tie never counts as a hit):

* ``noise/memorisation`` = #{i noisy: predicted as y~_i} / #noisy -- how much of the wrong
  labels the model has learnt (on the noisy examples only);
* ``noise/corrected`` = #{i noisy: predicted as y_i} / #noisy;
* ``noise/detect_precision``, ``noise/detect_recall``: a method-independent detector flags the
  k training examples with the highest cross-entropy ``l_i = -log softmax(f_i)_{y~_i}`` (equal
  losses at the cut: the later examples first); precision = #(flagged and noisy) / #flagged,
  recall = #(flagged and noisy) / #noisy.
  k = round(r n) with r = ``diagnostics.flag_rate``, by default (-1) the run's realised noise
  rate #noisy / n -- then #flagged = #noisy, so **precision = recall** by construction (the
  share of the noisy examples among the k largest losses); set a rate to see them apart;
* ``noise/auroc_loss``: the AUROC of ``l_i`` as a score for "noisy" (the probability that a noisy
  example has a higher loss than a clean one, ties counted 1/2; Mann-Whitney U / (n+ n-));
* ``noise/auroc_<q>``: the same for the method's own per-example quantity, oriented so that a
  higher score means "judged noisy": ``lam`` (ALDR-KL's λ_i, score +λ_i), ``mask`` (TGCE's
  pruning mask, score -v_i: pruned examples flagged), ``weight`` (the importance weight
  ``p_{y~}(x) / (p(x) T)_{y~}`` of ``reweight``/``dws``/``rent`` from the eval-mode logits and the
  method's current T, score -w_i). An AUROC below 0.5 means the quantity ranks the other way;
* ``test/class_acc/<c>``: top-1 accuracy of class c on the clean test set (null for a class
  without test examples).

``noise/*`` metrics are logged only when some run has noisy training labels; a run without
noisy (or without clean) examples gets null (None; NaN in the results table) for those it
cannot define. With real noise whose clean training labels are unknown (Clothing1M,
mini-WebVision) there are no ``noise/*`` metrics and no ``clean_label``/``noisy`` columns. They
add keys to ``metrics.jsonl`` (and so to a sweep's results table) and change no trained number:
the pass runs the model in eval mode and touches no state.

``examples.parquet`` (written atomically when the run completes; pyarrow, imported only then)
holds one row per training example: ``run`` (vmapped runs only), ``index`` (the example's stable
index), ``row`` (with per-run fold rows: its row of the training file), ``label`` (given),
``clean_label`` and ``noisy`` (when the clean labels are known), ``pred`` (argmax of the final
eval-mode logits), ``loss`` (``l_i``), ``flagged`` (the detector's flag), and the method's own
quantities where it has them: ``lam``, ``mask``, ``weight``. DWS's Dirichlet weights and RENT's
resample counts are random draws per batch that the method does not keep; their expectation is
proportional to ``weight``.

Tier: this module is harness code; it imports pyarrow (a dependency of ``[train]``, for
``examples.parquet``) inside `Diagnostics.write_examples` only, and no pandas.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from robustloss._io import atomic_write
from robustloss.training.build import RunData
from robustloss.training.config import transition_options
from robustloss.training.metrics import label_rank
from robustloss.training.runs import RunPlan
from robustloss.training.trainer import Trainer, TrainState
from robustloss.transition import ESTIMATORS, USES, importance_weights

__all__ = [
    "EXAMPLES",
    "STATE_SCORES",
    "Diagnostics",
    "auroc",
    "class_accuracy",
    "flag_top",
    "noise_metrics",
]

EXAMPLES = "examples.parquet"
#: Per-example leaves of an objective's state that are reported, and the sign that turns each
#: into a "judged noisy" score: ALDR-KL's temperature λ_i, TGCE's mask (0 = pruned).
STATE_SCORES = {"lam": 1.0, "mask": -1.0}


def _nan_div(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.where(b > 0, a / jnp.maximum(b, 1), jnp.nan).astype(jnp.float32)


def _mask(valid: ArrayLike | None, n: int) -> jax.Array:
    return jnp.ones((n,), bool) if valid is None else jnp.asarray(valid, bool)


def _finite(score: ArrayLike) -> jax.Array:
    """float32 scores with NaN -> 0 and +-inf -> the largest finite values (keeps the order)."""
    big = jnp.finfo(jnp.float32).max
    return jnp.nan_to_num(jnp.asarray(score, jnp.float32), nan=0.0, posinf=big, neginf=-big)


def _ranked(
    score: ArrayLike, positive: ArrayLike, valid: ArrayLike | None, k: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """``(flags, auroc)`` from one ascending stable sort of ``score`` (see `flag_top`, `auroc`).

    Invalid rows sort first (key -inf below every finite score), so the k flagged rows are the
    last k positions, and a valid row's rank among the valid ones is its position minus the
    number of invalid rows (which cancels in U)."""
    s = _finite(score)
    n = s.shape[0]
    ok = _mask(valid, n)
    pos = jnp.asarray(positive, bool) & ok
    idx = jnp.arange(n, dtype=jnp.int32)
    key, order, pos_sorted = jax.lax.sort(
        (jnp.where(ok, s, -jnp.inf), idx, pos), num_keys=1, is_stable=True
    )
    flags = jnp.zeros((n,), bool).at[order].set(idx >= n - k) & ok
    start = jnp.concatenate([jnp.ones((1,), bool), key[1:] != key[:-1]])
    group = jnp.cumsum(start) - 1  # tie groups in sorted order
    first = jax.ops.segment_min(idx, group, num_segments=n)
    last = jax.ops.segment_max(idx, group, num_segments=n)
    n_valid = jnp.sum(ok)
    rank = (first[group] + last[group]).astype(jnp.float32) / 2 + 1 - (n - n_valid)
    n_pos = jnp.sum(pos).astype(jnp.float32)
    n_neg = n_valid.astype(jnp.float32) - n_pos
    u = jnp.sum(jnp.where(pos_sorted, rank, 0.0)) - n_pos * (n_pos + 1) / 2
    auc = jnp.where((n_pos > 0) & (n_neg > 0), u / jnp.maximum(n_pos * n_neg, 1), jnp.nan)
    return flags, auc


def auroc(score: ArrayLike, positive: ArrayLike, valid: ArrayLike | None = None) -> jax.Array:
    """Area under the ROC curve of ``score`` for ``positive``, over the ``valid`` rows.

    ``AUROC = (1 / (n+ n-)) sum_{i pos} sum_{j neg} ([s_i > s_j] + 1/2 [s_i = s_j])``
    (Mann-Whitney U), computed from mid-ranks: ``(sum_{i pos} rank_i - n+ (n+ + 1) / 2) /
    (n+ n-)`` with tied scores sharing their mean rank -- one sort (jittable, vmappable). NaN
    when there is no positive or no negative row. Infinite scores rank as the largest and
    smallest finite float32 values, NaN as 0.

    Args:
        score: ``[N]`` scores (higher = more likely positive).
        positive: ``[N]`` bool.
        valid: ``[N]`` bool rows that take part (None: all).

    Returns:
        A float32 scalar in [0, 1] (or NaN).

    Example:
        >>> float(auroc(jnp.array([0.9, 0.1, 0.5, 0.5]), jnp.array([True, False, True, False])))
        0.875
    """
    return _ranked(score, positive, valid, 0)[1]


def flag_top(score: ArrayLike, k: ArrayLike, valid: ArrayLike | None = None) -> jax.Array:
    """``[N]`` bool: the ``k`` valid rows with the highest ``score`` (among tied scores at the
    cut, the later rows first; ``k`` may be traced).

    Example:
        >>> flag_top(jnp.array([0.2, 0.9, 0.5, 0.9]), 1).tolist()
        [False, False, False, True]
    """
    return _ranked(score, jnp.zeros(jnp.shape(score), bool), valid, k)[0]


def _per_example(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(pred, loss)``: argmax and cross-entropy against ``labels`` (float32)."""
    f = jnp.asarray(logits, jnp.float32)
    loss = jax.nn.logsumexp(f, axis=-1) - jnp.take_along_axis(f, labels[:, None], -1)[:, 0]
    return jnp.argmax(f, axis=-1).astype(jnp.int32), loss


def noise_metrics(
    logits: ArrayLike,
    labels: ArrayLike,
    clean: ArrayLike,
    valid: ArrayLike | None = None,
    *,
    flag_rate: float = -1.0,
    scores: dict[str, ArrayLike] | None = None,
) -> dict[str, jax.Array]:
    """The ``noise/*`` metrics of one run from the eval-mode logits of its training set.

    See the module docstring for the definitions.

    Args:
        logits: ``[N, K]``.
        labels: ``[N]`` given (noisy) labels.
        clean: ``[N]`` clean labels.
        valid: ``[N]`` bool real rows (None: all).
        flag_rate: the detector's share of flagged rows; < 0: the realised noise rate.
        scores: ``{name: [N]}`` "judged noisy" scores of the method (``noise/auroc_<name>``).

    Returns:
        ``{"noise/memorisation", "noise/corrected", "noise/detect_precision",
        "noise/detect_recall", "noise/auroc_loss", "noise/auroc_<name>"...}`` float32 scalars.

    Example:
        >>> logits = jnp.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
        >>> m = noise_metrics(logits, jnp.array([0, 1, 1, 0]), jnp.array([0, 1, 0, 1]))
        >>> float(m["noise/memorisation"]), float(m["noise/detect_recall"])
        (0.0, 1.0)
    """
    labels = jnp.asarray(labels, jnp.int32)
    clean = jnp.asarray(clean, jnp.int32)
    ok = _mask(valid, labels.shape[0])
    _, loss = _per_example(logits, labels)
    noisy = (labels != clean) & ok
    n_noisy = jnp.sum(noisy)
    as_given = label_rank(logits, labels) < 1
    as_clean = label_rank(logits, clean) < 1
    flagged, auroc_loss = _ranked(loss, noisy, ok, _flag_count(labels, clean, ok, flag_rate))
    hits = jnp.sum(flagged & noisy)
    out = {
        "noise/memorisation": _nan_div(jnp.sum(noisy & as_given), n_noisy),
        "noise/corrected": _nan_div(jnp.sum(noisy & as_clean), n_noisy),
        "noise/detect_precision": _nan_div(hits, jnp.sum(flagged)),
        "noise/detect_recall": _nan_div(hits, n_noisy),
        "noise/auroc_loss": auroc_loss,
    }
    for name, s in (scores or {}).items():
        out[f"noise/auroc_{name}"] = auroc(s, noisy, ok)
    return out


def class_accuracy(logits: ArrayLike, labels: ArrayLike, num_classes: int) -> jax.Array:
    """``[K]`` top-1 accuracy per class, ``#{i: y_i = c, hit_i} / #{i: y_i = c}`` (NaN for a
    class without rows; hits as in `robustloss.training.label_rank`: ties never count).

    Example:
        >>> class_accuracy(jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), jnp.array([0, 1, 1]), 3)
        Array([1. , 0.5, nan], dtype=float32)
    """
    labels = jnp.asarray(labels, jnp.int32)
    hit = (label_rank(logits, labels) < 1).astype(jnp.float32)
    onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    return _nan_div(hit @ onehot, jnp.sum(onehot, axis=0))


def _leaf_name(path: tuple) -> str:
    last = path[-1]
    for attr in ("name", "key", "idx"):
        if hasattr(last, attr):
            return str(getattr(last, attr))
    return str(last)


#: "Judged noisy" orientation of each reported per-example quantity.
_SIGN = {**STATE_SCORES, "weight": -1.0}


def _method_scores(logits, labels, state_scores, T, transpose):
    """Raw per-example quantities of the method: the state's (``lam``, ``mask``) and, for a
    weighted transition method, the importance weight of the eval-mode logits under T."""
    raw = {k: jnp.asarray(v, jnp.float32) for k, v in state_scores.items()}
    if T is not None:
        raw["weight"] = importance_weights(logits, labels, T.T if transpose else T)
    return raw


def _flag_count(labels, clean, valid, flag_rate):
    if flag_rate < 0:
        return jnp.sum((labels != clean) & valid)
    return jnp.round(flag_rate * jnp.sum(valid)).astype(jnp.int32)


def _metrics_one(logits, labels, clean, valid, state_scores, T, *, flag_rate, transpose):
    raw = _method_scores(logits, labels, state_scores, T, transpose)
    scores = {k: _SIGN[k] * v for k, v in raw.items()}
    return noise_metrics(logits, labels, clean, valid, flag_rate=flag_rate, scores=scores)


def _examples_one(logits, labels, clean, valid, state_scores, T, *, flag_rate, transpose):
    pred, loss = _per_example(logits, labels)
    flagged = flag_top(loss, _flag_count(labels, clean, valid, flag_rate), valid)
    raw = _method_scores(logits, labels, state_scores, T, transpose)
    return {"pred": pred, "loss": loss, "flagged": flagged, **raw}


# Module-level jitted functions: programs of one process with equal shapes (a sweep worker's,
# the demo's) compile them once.
@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _batched(fn, axes, flag_rate, transpose, logits, labels, clean, valid, state_scores, T):
    """``fn`` of one run, vmapped over runs when ``axes`` (labels, clean, valid) is given."""
    one = functools.partial(fn, flag_rate=flag_rate, transpose=transpose)
    if axes is None:
        return one(logits, labels, clean, valid, state_scores, T)
    t_axis = None if T is None else 0
    return jax.vmap(one, in_axes=(0, *axes, 0, t_axis))(
        logits, labels, clean, valid, state_scores, T
    )


@functools.partial(jax.jit, static_argnums=(2, 3))
def _class_batch(logits, labels, num_classes: int, runs: bool):
    fn = functools.partial(class_accuracy, num_classes=num_classes)
    return jax.vmap(fn, in_axes=(0, None))(logits, labels) if runs else fn(logits, labels)


class Diagnostics:
    """The per-epoch noise metrics and ``examples.parquet`` of one run (or R vmapped runs).

    Args:
        plan: the run's `RunPlan` (``diagnostics`` fields; ``transition`` for the weights).
        trainer: the run's `Trainer`.
        data: the run's `RunData` (labels, clean labels, test set, per-run sizes).
        feed: the run's inputs (`robustloss.training.feed`): ``train_logits(state)`` gives the
            model's logits on the training set (each run's own fold rows, or streamed),
            ``predict(state, x)`` those of an evaluation set.
        x_test: the test inputs as the feed takes them (the evaluation's), else
            ``feed.eval_input(data.x_test)`` when first needed.
    """

    def __init__(
        self,
        plan: RunPlan,
        trainer: Trainer,
        data: RunData,
        feed: Any,
        x_test: Any = None,
    ):
        config = plan.config
        d = config.diagnostics
        self.every, self.write, self.flag_rate = int(d.every), bool(d.examples), float(d.flag_rate)
        if self.every == -1 and config.dataset.get("pipeline", "memory") == "stream":
            # each diagnosis streams the whole training set once more: opt in with every=n
            self.every, self.write = 0, False
        self.num_epochs = config.num_epochs
        self.trainer, self.feed, self.runs = trainer, feed, plan.num_runs
        self.labels = np.asarray(data.y_train, np.int32)
        self.clean = np.asarray(data.y_train_clean, np.int32)
        # the clean labels of every training row are known (synthetic noise, CIFAR-N): else the
        # noise metrics and the clean_label/noisy columns would compare against guesses
        self.clean_known = bool(data.clean_train_known)
        n = self.labels.shape[-1]
        if data.train_sizes is not None:
            self.valid = np.arange(n)[None, :] < np.asarray(data.train_sizes)[:, None]
        else:
            self.valid = np.ones((n,), bool)
        self.train_rows = data.train_rows
        self.has_noise = self.clean_known and bool(((self.labels != self.clean) & self.valid).any())
        self._x_test, self._x_test_host = x_test, data.x_test
        self.y_test = jnp.asarray(np.asarray(data.y_test, np.int32))
        self.num_classes = data.num_classes
        t = config.transition
        self.weighted = t.use != "none" and bool(USES[t.use].meta.get("weighted"))
        opts = transition_options(config) if t.use != "none" else None
        self.transpose_T = bool(
            opts is not None
            and opts.paper_code_compat
            and bool(ESTIMATORS[t.estimator].meta.get("learnable"))
        )
        self._axes = {
            "labels": 0 if self.labels.ndim == 2 else None,
            "clean": 0 if self.clean.ndim == 2 else None,
            "valid": 0 if self.valid.ndim == 2 else None,
        }
        self._dev = {k: jnp.asarray(getattr(self, k)) for k in ("labels", "clean", "valid")}

    def due(self, epoch: int) -> bool:
        """Whether to compute the metrics after ``epoch`` (from 0): every ``every`` epochs
        (``-1``: every ``ceil(num_epochs / 10)``) and after the last; never with 0."""
        done, every = epoch + 1, self.every
        if every < 0:
            every = max(1, math.ceil(self.num_epochs / 10))
        return every > 0 and (done % every == 0 or done == self.num_epochs)

    # ------------------------------------------------------------------ on device
    def _inputs(self, state: TrainState) -> tuple:
        """The method's per-example state arrays (``{name: [R?, N]}``) and T (or None)."""
        n = self.labels.shape[-1]
        lead = 1 if self.runs else 0
        scores = {}
        for path, leaf in jax.tree_util.tree_flatten_with_path(state.aux)[0]:
            name = _leaf_name(path)
            if name in STATE_SCORES and jnp.ndim(leaf) == 1 + lead and leaf.shape[-1] == n:
                scores[name] = leaf
        aux = state.aux
        T = aux["T"] if self.weighted and isinstance(aux, dict) and "T" in aux else None
        return scores, T

    def _device(self, fn, logits: jax.Array, state: TrainState) -> dict:
        scores, T = self._inputs(state)
        axes = None
        if self.runs:
            axes = (self._axes["labels"], self._axes["clean"], self._axes["valid"])
        d = self._dev
        return _batched(
            fn, axes, self.flag_rate, self.transpose_T,
            logits, d["labels"], d["clean"], d["valid"], scores, T,
        )  # fmt: skip

    def _train_logits(self, state: TrainState) -> jax.Array:
        return self.feed.train_logits(state)

    # ------------------------------------------------------------------ host
    def __call__(self, state: TrainState, epoch: int, test_logits: Any = None) -> dict:
        """The metrics after ``epoch`` (from 0): ``{}`` when not `due`; values are floats, or
        lists of R floats with vmapped runs. ``test_logits``: the evaluation's `Trainer.predict`
        of the test set for this state, when it has them (else they are computed)."""
        if not self.due(epoch):
            return {}
        out: dict[str, Any] = {}
        if self.has_noise:
            m = self._device(_metrics_one, self._train_logits(state), state)
            out.update({k: _to_py(v) for k, v in jax.device_get(m).items()})
        if len(self.y_test):
            if test_logits is None:
                if self._x_test is None:
                    self._x_test = self.feed.eval_input(self._x_test_host)
                test_logits = self.feed.predict(state, self._x_test)
            acc = _class_batch(test_logits, self.y_test, self.num_classes, bool(self.runs))
            acc = np.asarray(jax.device_get(acc))
            for c in range(self.num_classes):
                out[f"test/class_acc/{c}"] = _to_py(acc[..., c])
        return out

    def examples(self, state: TrainState) -> dict[str, np.ndarray]:
        """The columns of ``examples.parquet`` (module docstring) as host arrays."""
        per = jax.device_get(self._device(_examples_one, self._train_logits(state), state))
        n = self.labels.shape[-1]
        shape = (self.runs, n) if self.runs else (n,)
        full = lambda a: np.broadcast_to(np.asarray(a), shape)
        cols: dict[str, np.ndarray] = {}
        if self.runs:
            cols["run"] = full(np.arange(self.runs, dtype=np.int32)[:, None])
        cols["index"] = full(np.arange(n, dtype=np.int32))
        if self.train_rows is not None:
            cols["row"] = full(np.asarray(self.train_rows, np.int32))
        cols["label"] = full(self.labels)
        if self.clean_known:
            cols["clean_label"] = full(self.clean)
            cols["noisy"] = full(self.labels != self.clean)
        cols["pred"] = full(per["pred"])
        cols["loss"] = full(per["loss"]).astype(np.float32)
        cols["flagged"] = full(per["flagged"])
        for name in ("lam", "mask", "weight"):
            if name in per:
                cols[name] = full(per[name]).astype(np.float32)
        keep = full(self.valid).reshape(-1)
        return {k: np.ascontiguousarray(v).reshape(-1)[keep] for k, v in cols.items()}

    def write_examples(self, state: TrainState, workdir: str) -> str | None:
        """Writes ``workdir/examples.parquet`` atomically (if ``diagnostics.examples``);
        returns its path (None when off)."""
        if not self.write:
            return None
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = os.path.join(workdir, EXAMPLES)
        table = pa.table(self.examples(state))
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        return path


def _to_py(v: Any) -> float | None | list[float | None]:
    """Host values for ``metrics.jsonl``: an undefined metric (NaN on device: no noisy example,
    no test example of a class) becomes None (JSON null; NaN in the results table), so a NaN in
    a line always means a number that went wrong (`robustloss.training.run` refuses those)."""
    arr = np.asarray(v, np.float64)
    out = [None if np.isnan(x) else float(x) for x in arr.reshape(-1)]
    return out[0] if arr.ndim == 0 else out
