"""Running statistics of a training epoch, accumulated on device inside the jitted step.

In the spirit of clu's metrics: an immutable pytree with ``empty`` / ``update`` / ``compute``,
so the step carries one value instead of hand-written running totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# ``nonfinite`` holds the first global step whose loss was NaN/inf; this value means none.
NO_NONFINITE = np.iinfo(np.int32).max


class EpochStats(NamedTuple):
    """Sums over the steps of one epoch (one run; vmapped over runs by the trainer).

    Attributes:
        loss: ``sum_steps loss * real rows``.
        count: real (unpadded) rows seen.
        correct_noisy: real rows whose train-mode argmax equals the noisy label.
        correct_clean: the same against the clean label, or None when clean labels are unknown.
        steps: steps taken (int32).
        nonfinite: first global step with a non-finite loss (int32; `NO_NONFINITE` if none).
        nonfinite_loss: the loss at that step (NaN or +-inf; 0 if none), for the message.
        objective: ``{name: sum over steps}`` of the objective's own metrics.

    Example:
        >>> s = EpochStats.empty(["ess"], has_clean=False)
        >>> s = s.update(loss=jnp.float32(2.0), mask=jnp.ones(4), pred=jnp.array([0, 1, 1, 1]),
        ...              labels=jnp.array([0, 1, 0, 0]), clean_labels=None, step=jnp.int32(0),
        ...              metrics={"ess": jnp.float32(0.5)})
        >>> {k: float(v) for k, v in s.compute().items()}
        {'loss': 2.0, 'acc_noisy': 0.5, 'obj/ess': 0.5}
    """

    loss: jax.Array
    count: jax.Array
    correct_noisy: jax.Array
    correct_clean: jax.Array | None
    steps: jax.Array
    nonfinite: jax.Array
    objective: dict
    nonfinite_loss: jax.Array = np.float32(0.0)

    @classmethod
    def empty(cls, objective_metrics: Sequence[str], *, has_clean: bool) -> EpochStats:
        """Zero statistics (host NumPy scalars) for an objective reporting ``objective_metrics``."""
        zero = np.float32(0.0)
        return cls(
            loss=zero,
            count=zero,
            correct_noisy=zero,
            correct_clean=zero if has_clean else None,
            steps=np.int32(0),
            nonfinite=np.int32(NO_NONFINITE),
            objective={k: zero for k in objective_metrics},
            nonfinite_loss=zero,
        )

    def update(
        self,
        *,
        loss: jax.Array,
        mask: jax.Array,
        pred: jax.Array,
        labels: jax.Array,
        clean_labels: jax.Array | None,
        step: jax.Array,
        metrics: dict,
    ) -> EpochStats:
        """Adds one step: its batch-mean ``loss``, train-mode predictions and objective metrics."""
        correct_clean = self.correct_clean
        if correct_clean is not None:
            correct_clean = correct_clean + jnp.sum((pred == clean_labels) * mask)
        first = ~jnp.isfinite(loss) & (self.nonfinite == NO_NONFINITE)
        return EpochStats(
            loss=self.loss + loss * jnp.sum(mask),
            count=self.count + jnp.sum(mask),
            correct_noisy=self.correct_noisy + jnp.sum((pred == labels) * mask),
            correct_clean=correct_clean,
            steps=self.steps + 1,
            nonfinite=jnp.where(
                jnp.isfinite(loss), self.nonfinite, jnp.minimum(self.nonfinite, step)
            ),
            objective={
                k: v + jnp.asarray(metrics[k], jnp.float32) for k, v in self.objective.items()
            },
            nonfinite_loss=jnp.where(first, jnp.asarray(loss, jnp.float32), self.nonfinite_loss),
        )

    def compute(self) -> dict:
        """Means: ``loss`` and ``acc_noisy``/``acc_clean`` per real row, ``obj/<k>`` per step."""
        n = np.maximum(np.asarray(self.count), 1.0)
        steps = np.maximum(np.asarray(self.steps), 1)
        out = {"loss": np.asarray(self.loss) / n, "acc_noisy": np.asarray(self.correct_noisy) / n}
        if self.correct_clean is not None:
            out["acc_clean"] = np.asarray(self.correct_clean) / n
        for k, v in self.objective.items():
            out[f"obj/{k}"] = np.asarray(v) / steps
        return out
