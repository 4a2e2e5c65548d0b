"""Mutation pass: apply one plausible bug at a time, run the tests that should catch it, restore.

Each mutation is a textual replacement ``old -> new`` in one source file and a pytest selection
(test files and an optional ``-k`` expression). A mutation is *caught* (killed) when pytest
fails. Mutations are applied to a scratch copy of the repository (a temporary directory, removed
afterwards), never to the checkout, so a killed pass leaves nothing mutated behind and the
checkout can be edited and tested while a pass runs.

The table cannot go stale silently: before anything runs, every mutation of the table (not only
the selected ones) is checked (`check_table`): its file exists, ``old`` occurs in it exactly
once, the mutated file still parses, every listed test file exists and the ``-k`` expression
selects at least one test function of those files. A stale table stops the run with exit
status 2 and the list of problems. ``tests/test_mutation_table.py`` runs the same check in
``make test``, so a refactor that moves the guarded code fails the suite, not just this pass.

Not part of ``make test`` (it runs the selected tests once per mutation): ``make mutants``, or
from the repository root::

    PYTHONPATH=$PWD python tools/mutate.py                    # all mutations
    PYTHONPATH=$PWD python tools/mutate.py -f transition/     # the mutations of files matching
    PYTHONPATH=$PWD python tools/mutate.py -m dws tv          # names containing "dws" or "tv"
    PYTHONPATH=$PWD python tools/mutate.py --list             # the table; --check: check only
    PYTHONPATH=$PWD python tools/mutate.py --json out.json    # also write the results as JSON

Prints a Markdown table (mutation, file, tests, caught/MISSED, seconds) and the kill rate by
module, and exits with status 1 if any mutation was missed, 2 if the table is stale.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Not copied into the scratch repository: version control, environments, caches.
_SKIP = (".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info", "workdirs")


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One planted bug.

    Attributes:
        name: what the bug is (unique in the table).
        path: the source file, relative to the repository root.
        old: text that occurs exactly once in ``path``.
        new: its replacement.
        tests: test files (relative paths) that should catch it.
        k: a pytest ``-k`` expression narrowing ``tests`` ("" = all of them).
    """

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    k: str = ""


# --- library tier (robustloss/losses, stateful.py, objective.py, noise/, transition/)
U = "robustloss/transition/_utilise.py"
E = "robustloss/transition/_estimators.py"
ME = "robustloss/transition/_methods.py"
O = "robustloss/transition/_objective.py"  # noqa: E741
NG = "robustloss/noise/_generators.py"
NP = "robustloss/noise/_paper_code.py"
C = "robustloss/losses/_common.py"
LCE = "robustloss/losses/_ce.py"
LSY = "robustloss/losses/_symmetric.py"
LAS = "robustloss/losses/_asymmetric.py"
LLDR = "robustloss/losses/_ldr.py"
ST = "robustloss/stateful.py"
OBJ = "robustloss/objective.py"
TT = ("tests/transition/test_transition.py",)
TE = ("tests/transition/test_estimators.py",)
TOB = ("tests/transition/test_objectives.py",)
TN = ("tests/noise/test_noise.py",)
TR = ("tests/test_registry.py",)
TL = ("tests/losses/test_losses.py",)
TS = ("tests/test_stateful.py",)
# --- harness tier (data/, training/) and configs/
M = "robustloss/training/metrics.py"
DS = "robustloss/data/_sources.py"
DL = "robustloss/data/_load.py"
DLB = "robustloss/data/_labels.py"
TRN = "robustloss/training/trainer.py"
RUN = "robustloss/training/run.py"
BLD = "robustloss/training/build.py"
WD = "robustloss/training/workdir.py"
CFG = "robustloss/training/config.py"
CB = "configs/base.py"
TM = ("tests/training/test_trainer.py",)
TD = ("tests/data/test_data.py",)
TLB = ("tests/data/test_labels.py",)
TTR = ("tests/training/test_run.py",)
TW = ("tests/training/test_workdir.py",)
TC = ("tests/configs/test_configs.py",)
# --- study tier (sweep/)
SR = "robustloss/sweep/results.py"
SC = "robustloss/sweep/cells.py"
SP = "robustloss/sweep/plan.py"
TB = ("tests/sweep/test_bookkeeping.py",)

MUTATIONS = [
    # --- DWS / RENT (randomness, concentration, draws)
    Mutation(
        "dws: concentration alpha*w instead of alpha*w/sum(w)",
        U,
        "jnp.log(jnp.asarray(alpha, jnp.float32)) + log_mu)",
        "jnp.log(jnp.asarray(alpha, jnp.float32)) + logw)",
        TT,
        "dws",
    ),
    Mutation(
        "dws: one Dirichlet draw instead of M",
        U,
        "jnp.broadcast_to(conc, (num_draws, w.shape[0]))",
        "jnp.broadcast_to(conc, (1, w.shape[0]))",
        TT,
        "dws",
    ),
    Mutation(
        "dws: fixed PRNG key in the sampler (same draw every step)",
        U,
        "jax.random.loggamma(key, ",
        "jax.random.loggamma(jax.random.key(0), ",
        TT,
        "dws or key",
    ),
    Mutation(
        "rent: fixed PRNG key in the resampler",
        U,
        "jax.random.categorical(key, logw",
        "jax.random.categorical(jax.random.key(0), logw",
        TT,
        "rent or key",
    ),
    Mutation(
        "objective: step key reused (a constant key every step)",
        O,
        "key_sample, key_tv = jax.random.split(key)",
        "key_sample, key_tv = jax.random.split(jax.random.key(0))",
        TT,
        "key",
    ),
    # --- importance weights and T orientation
    Mutation(
        "weights: stop-gradient dropped",
        U,
        "    logits = jax.lax.stop_gradient(jnp.asarray(logits))\n    T = jax.lax.stop_gradient",
        "    logits = jnp.asarray(logits)\n    T = jax.lax.stop_gradient",
        TT,
        "constants or gradient",
    ),
    Mutation(
        "weights: T transposed in the denominator",
        U,
        "log_den = jax.nn.logsumexp(logp + jnp.log(T[:, labels].T), axis=-1)",
        "log_den = jax.nn.logsumexp(logp + jnp.log(T[labels, :]), axis=-1)",
        TT,
        "importance or unbiased",
    ),
    Mutation(
        "forward: T transposed in log(p T)",
        U,
        "logp[:, :, None] + logT[None, :, :]",
        "logp[:, :, None] + logT.T[None, :, :]",
        TT,
        "forward",
    ),
    Mutation(
        "weights: invalid label row silently weight 0 (NaN contract dropped)",
        U,
        "    w = jnp.where(valid | (mask <= 0), w, jnp.nan)\n",
        "",
        TT,
        "out_of_range",
    ),
    # --- learnable-T regularisers
    Mutation(
        "volminnet: log-det sign flipped",
        ME,
        "+ o.volmin_lambda * jnp.linalg.slogdet(T)[1]",
        "- o.volmin_lambda * jnp.linalg.slogdet(T)[1]",
        TE,
        "volminnet or volume",
    ),
    Mutation(
        "volminnet: log-det term dropped",
        ME,
        "+ o.volmin_lambda * jnp.linalg.slogdet(T)[1]",
        "",
        TE,
        "volminnet or volume",
    ),
    Mutation(
        "tv: regulariser sign flipped",
        E,
        "return -0.5 * masked_mean(dist, pair_mask)",
        "return 0.5 * masked_mean(dist, pair_mask)",
        TE,
        "regularisers",
    ),
    Mutation(
        "tv: pairs with themselves (no permutation)",
        E,
        "dist = jnp.sum(jnp.abs(probs - probs[perm]), axis=-1)",
        "dist = jnp.sum(jnp.abs(probs - probs), axis=-1)",
        TE,
        "regularisers",
    ),
    Mutation(
        "cycle: backward term uses T_inv transposed",
        E,
        "back = onehot @ jnp.asarray(T_inv)",
        "back = onehot @ jnp.asarray(T_inv).T",
        TE,
        "regularisers",
    ),
    Mutation(
        "cycle: code softmax ignored",
        E,
        "        onehot = jax.nn.softmax(onehot, axis=-1)\n",
        "        pass\n",
        TE,
        "regularisers",
    ),
    Mutation(
        "cycle: consistency term T_inv @ T order",
        E,
        "cyc = probs @ jnp.asarray(T) @ jnp.asarray(T_inv)",
        "cyc = probs @ jnp.asarray(T_inv) @ jnp.asarray(T)",
        TE,
        "regularisers",
    ),
    Mutation(
        "forward_nll: eps inside the log dropped to a large constant",
        E,
        "nll = -jnp.log(noisy[jnp.arange(noisy.shape[0]), lab] + CODE_EPS)",
        "nll = -jnp.log(noisy[jnp.arange(noisy.shape[0]), lab] + 1e-2)",
        TE,
        "regularisers",
    ),
    # --- T validation
    Mutation(
        "check_transition_matrix: row sums not checked",
        U,
        "if not np.allclose(sums, 1.0, atol=atol):",
        "if False:",
        TT,
        "invalid",
    ),
    Mutation(
        "check_transition_matrix: negative entries not checked",
        U,
        "if (arr < -1e-6).any():",
        "if False:",
        TT,
        "invalid",
    ),
    # --- noise
    Mutation(
        "rent_code: project's float order int(n*rate*K/(K-1))",
        NP,
        "count = int(n * (rate * (num_classes / (num_classes - 1))))",
        "count = int(n * rate * num_classes / (num_classes - 1))",
        TN,
        "rent_code",
    ),
    Mutation(
        "ldr_code: default seed 0 instead of 123",
        NP,
        '_legacy_seed(seed, 123, "ldr_code")',
        '_legacy_seed(seed, 0, "ldr_code")',
        TN,
        "ldr_code",
    ),
    Mutation(
        "idn: normalised features by default",
        NG,
        "IDN_NORMALIZE = Option(False, choices=(True, False))",
        "IDN_NORMALIZE = Option(True, choices=(True, False))",
        TN,
        "instance",
    ),
    Mutation(
        "idn: NaN features accepted",
        NG,
        "    bad = ~np.isfinite(x)\n    if bad.any():",
        "    bad = ~np.isfinite(x)\n    if False:",
        TN,
        "instance",
    ),
    Mutation(
        "idn: flip mass not scaled by q",
        NG,
        "p = q[idx, None] * e / e.sum(axis=1, keepdims=True)",
        "p = e / e.sum(axis=1, keepdims=True)",
        TN,
        "instance",
    ),
    Mutation(
        "symmetric T: rate/K off-diagonal (off by one)",
        NG,
        "(1.0 - rate) * np.eye(k) + rate / (k - 1) * (1.0 - np.eye(k))",
        "(1.0 - rate) * np.eye(k) + rate / k * (1.0 - np.eye(k))",
        TN,
        "",
    ),
    Mutation(
        "exact sampling: floor instead of round",
        NG,
        "count = int(np.floor(rate * len(idx) + 0.5))",
        "count = int(np.floor(rate * len(idx)))",
        TN,
        "",
    ),
    Mutation(
        "label file: [N, C] flattened",
        DLB,
        "if arr.shape[1] == 1:\n                return arr[:, 0]",
        "if arr.shape[1] >= 1:\n                return arr.reshape(-1)",
        TLB,
        "label_file or from_labels",
    ),
    Mutation(
        "label file: any non-integer first line taken as a header",
        DLB,
        "elif all(_NAME.match(c) for c in cells):",
        "elif not all(_is_int(c) for c in cells):",
        TLB,
        "label_file or from_labels",
    ),
    Mutation(
        "label file: longer than the dataset accepted",
        DLB,
        "if n != int(expected_rows):",
        "if n < int(expected_rows):",
        TLB,
        "label_file or from_labels",
    ),
    Mutation(
        "from_labels: float 0.5 truncated to an id",
        NG,
        "bad = np.flatnonzero(~np.isfinite(f) | (f != np.round(f)))",
        "bad = np.flatnonzero(~np.isfinite(f))",
        TLB,
        "label_file or from_labels",
    ),
    Mutation(
        "from_labels: longer noisy array accepted",
        NG,
        'if len(z) != len(y):\n        raise ValueError(f"{source}:',
        'if len(z) < len(y):\n        raise ValueError(f"{source}:',
        TLB,
        "label_file or from_labels",
    ),
    # --- metrics
    Mutation(
        "metrics: ties resolved in the label's favour",
        M,
        "(logits > own) | ((logits == own) & others)",
        "(logits > own)",
        TM,
        "metrics",
    ),
    Mutation(
        "metrics: NaN rows can be hits",
        M,
        "ok = in_range & jnp.all(jnp.isfinite(logits), axis=-1)",
        "ok = in_range",
        TM,
        "metrics",
    ),
    Mutation(
        "metrics: out-of-range labels can be hits",
        M,
        "ok = in_range & jnp.all(jnp.isfinite(logits), axis=-1)",
        "ok = jnp.all(jnp.isfinite(logits), axis=-1)",
        TM,
        "metrics",
    ),
    Mutation(
        "metrics: nonfinite counts NaN only (misses inf)",
        M,
        "bad = (~jnp.all(jnp.isfinite(logits), axis=-1))",
        "bad = (~jnp.all(~jnp.isnan(logits), axis=-1))",
        TM,
        "metrics",
    ),
    Mutation(
        "metrics: nonfinite ignores the mask",
        M,
        "return jnp.sum(bad * _mask(bad, mask))",
        "return jnp.sum(bad)",
        TM,
        "metrics",
    ),
    Mutation(
        "metrics: balanced accuracy averages over absent classes",
        M,
        "present = count > 0",
        "present = count >= 0",
        TM,
        "metrics",
    ),
    # --- losses
    Mutation(
        "losses: per-example NaN for a bad label dropped (finish)",
        C,
        "            out = jnp.where(ok, out, jnp.nan)\n",
        "            pass\n",
        TR,
        "out_of_range",
    ),
    Mutation(
        "losses: -1 counted as valid",
        C,
        "valid = (labels >= 0) & (labels < num_classes)",
        "valid = labels < num_classes",
        TR,
        "out_of_range",
    ),
    # --- training harness: randomness over time (test_training.py -k shuffle_and_step)
    Mutation(
        "trainer: one shuffle for every epoch",
        TRN,
        "            seed,\n            epoch,\n            n,\n",
        "            seed,\n            0,\n            n,\n",
        TM,
        "shuffle_and_step",
    ),
    Mutation(
        "trainer: shuffle ignores the run key (every seed one order)",
        TRN,
        "        seed = [int(v) for v in np.asarray(rng, np.uint32).reshape(-1)]\n",
        "        seed = [0]\n",
        TM,
        "shuffle_and_step",
    ),
    Mutation(
        "trainer: one PRNG key for every step (objective draws, augmentation)",
        TRN,
        "key = jax.random.fold_in(jax.random.fold_in(state.rng, 2), state.step)",
        "key = jax.random.fold_in(state.rng, 2)",
        TM,
        "shuffle_and_step",
    ),
    Mutation(
        "trainer: augmentation and objective share one key",
        TRN,
        "k_aug, k_obj = jax.random.split(key)",
        "k_aug = k_obj = key",
        TM,
        "shuffle_and_step",
    ),
    Mutation(
        "trainer: epoch counter never advances (same shuffle every epoch)",
        TRN,
        "epoch=state.epoch + last.astype(jnp.int32),",
        "epoch=state.epoch,",
        TM,
        "shuffle_and_step",
    ),
    # --- training harness: inputs and workdir (issue 9 items 1, 2, 5, 6, 13)
    Mutation(
        "run: non-finite evaluation not reported",
        RUN,
        "            for run in np.flatnonzero(bad > 0).tolist():\n",
        "            for run in []:\n",
        TTR,
        "nan_evaluation",
    ),
    Mutation(
        "build: real-noise file length not checked against the source rows",
        BLD,
        "expected_rows=num_source_rows",
        "expected_rows=None",
        TTR,
        "real_noise",
    ),
    Mutation(
        "build: real-noise labels_column ignored",
        BLD,
        "column = None if n.labels_column < 0 else int(n.labels_column)",
        "column = None",
        TTR,
        "real_noise",
    ),
    Mutation(
        "build: real-noise label values checked without naming the file",
        BLD,
        "file_labels = check_label_values(file_labels, k, where)",
        "file_labels = np.asarray(file_labels)",
        TTR,
        "real_noise",
    ),
    Mutation(
        "progress: notes printed with progress='none'",
        "robustloss/training/progress.py",
        '        elif self.mode == "lines":\n            self.log(message)\n\n    def end',
        "        else:\n            self.log(message)\n\n    def end",
        TTR,
        "progress",
    ),
    Mutation(
        "configs: reversed seed range accepted (empty seeds)",
        CB,
        "        if hi < lo:\n",
        "        if False:\n",
        TC,
        "seeds",
    ),
    Mutation(
        "configs: negative seed parsed",
        CB,
        "    if not t.isdigit():",
        "    if not t.lstrip('-').isdigit():",
        TC,
        "seeds",
    ),
    Mutation(
        "runs: identical runs (a repeated seed) accepted",
        "robustloss/training/runs.py",
        "        if run in seen:",
        "        if False:",
        TC,
        "seeds",
    ),
    Mutation(
        "config: select_metric typo accepted",
        CFG,
        '    _choice("select_metric", c.select_metric, SELECT_METRICS)\n',
        "",
        TTR,
        "select_metric",
    ),
    Mutation(
        "workdir: silent test-set fallback for a missing select metric",
        WD,
        "    scored = [r for r in history if select in r]\n",
        "    scored = [r for r in history if select in r] or [\n"
        '        {**r, select: r["test/top1"]} for r in history if "test/top1" in r\n'
        "    ]\n",
        TTR,
        "select_metric",
    ),
    Mutation(
        "workdir: shared (not exclusive) lock",
        WD,
        "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
        "fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)",
        TW,
        "lock",
    ),
    Mutation(
        "workdir: lock kept after a failed config check",
        WD,
        "        except BaseException:\n            self._unlock()\n            raise\n",
        "        except BaseException:\n            raise\n",
        TW,
        "lock",
    ),
    Mutation(
        "workdir: checkpoints without config.json resumed",
        WD,
        "        if found:\n",
        "        if False:\n",
        TW,
        "without_their",
    ),
    # --- data
    Mutation(
        "npz: float labels truncated",
        DS,
        "bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))",
        "bad = np.flatnonzero(~np.isfinite(y))",
        TD,
        "npz",
    ),
    Mutation(
        "npz: soft [N, K] labels argmax-ed",
        DS,
        "bad = np.flatnonzero(~(ones & zeros))",
        "bad = np.flatnonzero(~(ones | ~ones))",
        TD,
        "npz",
    ),
    Mutation(
        "data: NaN features accepted",
        DL,
        "            if bad:\n                raise ValueError(\n",
        "            if False:\n                raise ValueError(\n",
        TD,
        "npz",
    ),
    # --- transition: how a method composes its parts (issue 22; tests/transition/test_objectives)
    Mutation(
        "cycle: consistency term dropped from the classifier loss",
        ME,
        "            + o.cycle_weight * est.cycle_consistency_loss(probs, T, T_inv, mask)\n",
        "",
        TOB,
        "cycle",
    ),
    Mutation(
        "tv: classifier regulariser sign flipped in the method (rewards what it penalises)",
        ME,
        "return o.tv_weight * est.total_variation(probs, key, mask)",
        "return -o.tv_weight * est.total_variation(probs, key, mask)",
        TOB,
        "tv",
    ),
    Mutation(
        "tv: compat keeps the TV term the released code never applies",
        ME,
        "        if o.paper_code_compat:  # the code's TV term acts on detached logits: no "
        "gradient\n",
        "        if False:\n",
        TOB,
        "tv",
    ),
    Mutation(
        "dws: one Dirichlet draw per batch (documented: one per example, M = B)",
        ME,
        "draws = int(o.num_draws) or x.logits.shape[0]",
        "draws = int(o.num_draws) or 1",
        TOB,
        "draw_statistics or matches_numpy",
    ),
    Mutation(
        "cycle: classifier backward loss always in the code's softmax form",
        ME,
        "+ est.cycle_backward_loss(probs, labels, T_inv, mask, code_softmax=compat)",
        "+ est.cycle_backward_loss(probs, labels, T_inv, mask, code_softmax=True)",
        TOB,
        "cycle",
    ),
    Mutation(
        "cycle: T loss backward always in the code's softmax form",
        ME,
        "back = est.cycle_backward_loss(probs, labels, T_inv, mask, code_softmax=compat)",
        "back = est.cycle_backward_loss(probs, labels, T_inv, mask, code_softmax=True)",
        TOB,
        "cycle",
    ),
    Mutation(
        "forward: the code's eps inside log(p T) ignored under compat",
        ME,
        "eps = ut.CODE_EPS if o.paper_code_compat else 0.0",
        "eps = 0.0",
        TOB,
        "matches_numpy",
    ),
    Mutation(
        "objective: compat weights of a learnable T not transposed (D1)",
        O,
        "T_w = T.T if transpose_weights else T",
        "T_w = T",
        TOB,
        "volminnet or tv or cycle",
    ),
    Mutation(
        "objective: learnable T's classifier term added during the warm-up",
        O,
        "return jnp.where(active, main + extra, warm), new_aux, metrics",
        "return jnp.where(active, main, warm) + extra, new_aux, metrics",
        TT,
        "warmup or inactive",
    ),
    # --- losses (library tier)
    Mutation(
        "sce: alpha and beta swapped",
        LSY,
        "-alpha * lp - beta * A * c.one_minus_exp(lp)",
        "-beta * lp - alpha * A * c.one_minus_exp(lp)",
        TL,
        "matches_numpy or hand_computed",
    ),
    Mutation(
        "nce+rce: CE not normalised by the sum over classes",
        LSY,
        "alpha * ce / denom + beta * rce",
        "alpha * ce + beta * rce",
        TL,
        "matches_numpy or hand_computed",
    ),
    Mutation(
        "gce: L_q not divided by q",
        LSY,
        "return -jnp.expm1(q * log_p) / q",
        "return -jnp.expm1(q * log_p)",
        TL,
        "matches_numpy or hand_computed",
    ),
    Mutation(
        "agce: not divided by q",
        LAS,
        "return (jnp.power(a + 1.0, q) - jnp.power(a + jnp.exp(log_p), q)) / q",
        "return jnp.power(a + 1.0, q) - jnp.power(a + jnp.exp(log_p), q)",
        TL,
        "matches_numpy or hand_computed",
    ),
    Mutation(
        "label smoothing: CE weighted 1 instead of 1 - epsilon",
        LCE,
        "(1.0 - epsilon) * ce + epsilon * mass * uniform_ce",
        "ce + epsilon * mass * uniform_ce",
        TL,
        "matches_numpy or hand_computed",
    ),
    Mutation(
        "ldr_kl: temperature dropped from the log-sum-exp term",
        LLDR,
        "return m[..., 0] + lam * jnp.log1p(s) - f_y",
        "return m[..., 0] + jnp.log1p(s) - f_y",
        TL,
        "matches_numpy or hand_computed",
    ),
    # --- stateful losses, objective adapters (library tier)
    Mutation(
        "aldr_kl: penalty -beta (lam - lam0)^2 sign flipped",
        ST,
        "loss = loss - beta * jnp.square(lam_new - lam0)",
        "loss = loss + beta * jnp.square(lam_new - lam0)",
        TS,
        "aldr",
    ),
    Mutation(
        "aldr_kl: the new lambda never stored",
        ST,
        'lam = state.lam.at[jnp.asarray(index)].set(lam_new.astype(state.lam.dtype), mode="drop")',
        "lam = state.lam",
        TS,
        "aldr",
    ),
    Mutation(
        "stateful: padded rows read the last example's state",
        ST,
        "return jnp.where(inside, values[jnp.clip(index, 0, n - 1)], fill)",
        "return values[jnp.clip(index, 0, n - 1)]",
        TS,
        "padded or padding",
    ),
    Mutation(
        "tgce: paper schedule prunes one period late",
        ST,
        "return done >= prune_start and (done - prune_start) % prune_every == 0",
        "return done > prune_start and (done - prune_start) % prune_every == 0",
        TS,
        "tgce",
    ),
    Mutation(
        "masked_mean: padded rows counted in the denominator",
        OBJ,
        "return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)",
        "return jnp.sum(values * mask) / values.shape[0]",
        TM,
        "masked_mean or padded",
    ),
    Mutation(
        "objective_hparams: traced values ignored (the loss's own values used)",
        OBJ,
        'return {**hparams, **aux["hparams"]}',
        'return {**aux["hparams"], **hparams}',
        ("tests/training/test_runs.py",),
        "stateful_loss_hyperparameters",
    ),
    # --- sweep bookkeeping (study tier; tests/sweep/test_bookkeeping.py)
    Mutation(
        "results.append keeps a cell's old rows when the cell is appended again",
        SR,
        '            old = old[~old["cell_id"].isin(set(ids))]\n',
        "",
        TB,
        "",
    ),
    Mutation(
        "results.sync appends every finished cell, not only the missing ones",
        SR,
        "missing = [c for c in done if c not in have]",
        "missing = done",
        TB,
        "lagging",
    ),
    Mutation(
        "cell id ignores num_epochs (a grid changing only the epochs finds old cells done)",
        SC,
        "return {k: v for k, v in cfg.items() if k not in NOT_IN_ID}",
        'return {k: v for k, v in cfg.items() if k not in (*NOT_IN_ID, "num_epochs")}',
        TB,
        "",
    ),
    Mutation(
        "cell id ignores nested fields (only top-level scalars hashed)",
        SC,
        'return json.dumps(_strip(config_json), sort_keys=True, separators=(",", ":"))',
        "return json.dumps(\n"
        "        {k: v for k, v in _strip(config_json).items() if not isinstance(v, dict)},\n"
        '        sort_keys=True,\n        separators=(",", ":"),\n    )',
        TB,
        "",
    ),
    Mutation(
        "program key ignores num_epochs (cells of different epochs packed together)",
        SP,
        "        rest.pop(field, None)\n",
        '        rest.pop(field, None)\n    rest.pop("num_epochs", None)\n',
        TB,
        "",
    ),
    Mutation(
        "plan: a field differing between two cells not seen as varying",
        SP,
        "return [f for f in fields if len({repr(get_path(c.config, f)) for c in cells}) > 1]",
        "return [f for f in fields if len({repr(get_path(c.config, f)) for c in cells}) > 2]",
        TB,
        "",
    ),
    # the run plan, the streaming checks, final_state and the schema cache (issue 17/18 code)
    Mutation(
        "losses: output NaN mask dropped (label -1 reads class K-1)",
        C,
        "            out = jnp.where(ok, out, jnp.nan)\n",
        "",
        TR,
        "out_of_range",
    ),
    Mutation(
        "runs: a per-run value keeps its own type (a float seed)",
        "robustloss/training/runs.py",
        "            value = _coerce(get_field(cfg, path, where=where), value, where, path)",
        "            get_field(cfg, path, where=where)",
        TC,
        "seeds",
    ),
    Mutation(
        "runs: runs that differ in their seed share one noise draw",
        BLD,
        "        key = (rc.noise, seed, rc.dataset.fold)",
        "        key = (rc.noise, rc.dataset.fold)",
        ("tests/training/test_runs.py",),
        "batched_seeds",
    ),
    Mutation(
        "runs: a run's overrides written into the shared config (no copy on write)",
        "robustloss/_fields.py",
        "    out = dict(tree)\n",
        "    out = tree\n",
        ("tests/test_fields.py", "tests/training/test_runs.py"),
        "with_field or run_plan",
    ),
    Mutation(
        "stream: packed runs on different folds accepted",
        BLD,
        '    if "dataset.fold" in plan.varying:',
        "    if False:",
        ("tests/training/test_stream.py",),
        "config_errors",
    ),
    Mutation(
        "stream: only the base config's noise kind checked, not each run's",
        BLD,
        "    for kind in dict.fromkeys(rc.noise.kind for rc in plan.run_configs):",
        "    for kind in (plan.config.noise.kind,):",
        ("tests/training/test_stream.py",),
        "config_errors",
    ),
    Mutation(
        "restore: final_state trains packed runs",
        "robustloss/training/restore.py",
        "    if plan.num_runs:\n",
        "    if False:\n",
        ("tests/training/test_runs.py",),
        "final_state",
    ),
    Mutation(
        "config: the schema cached across validations (stale once a table gains an entry)",
        CFG,
        "    schema = default_config()\n",
        '    schema = validate_config.__dict__.setdefault("schema", default_config())\n',
        ("tests/training/test_config.py",),
        "one_table_entry",
    ),
    Mutation(
        "results: the driver's rows in another column order than the cell files'",
        "robustloss/sweep/results.py",
        '        flat = _flatten(json.loads(json.dumps(r["config_json"], sort_keys=True)))',
        '        flat = _flatten(r["config_json"])',
        ("tests/sweep/test_sweep.py",),
        "driver_appends",
    ),
    # --- real-noise file datasets streamed (dataset.pipeline="stream") like in memory
    Mutation(
        "file stream: the training sources carry the noisy labels, not the clean ones known",
        "robustloss/data/_real_noise.py",
        "    x_tr = images(fd.train_paths, y_tr)\n",
        "    x_tr = images(fd.train_paths, fd.train_labels)\n",
        ("tests/data/test_real_noise.py",),
        "stream_sources",
    ),
    Mutation(
        "file stream: the sources' paths rolled by one against their labels",
        "robustloss/data/_real_noise.py",
        "ImageFileSource(paths, labels, fd.root, size=size)",
        "ImageFileSource(paths[1:] + paths[:1], labels, fd.root, size=size)",
        ("tests/data/test_real_noise.py", "tests/training/test_real_noise_run.py"),
        "stream_sources or memory_pipelines_numbers",
    ),
    Mutation(
        "file datasets: the test split read from the training paths",
        "robustloss/data/_real_noise.py",
        "    x_te = images(te_paths, y_te)\n",
        "    x_te = images(fd.train_paths[: len(y_te)], y_te)\n",
        ("tests/data/test_real_noise.py",),
        "stream_sources",
    ),
    Mutation(
        "file datasets: the extra evaluation sets (ilsvrc12_val) dropped",
        "robustloss/data/_real_noise.py",
        "    for e in fd.extra_eval_sets:\n",
        "    for e in fd.extra_eval_sets[:0]:\n",
        ("tests/data/test_real_noise.py", "tests/training/test_real_noise_run.py"),
        "stream_sources or named_eval_set",
    ),
    Mutation(
        "file stream: image headers not checked at loading",
        DL,
        '        _readable(src, "fail", f"{name} {split} images"',
        '        0 and _readable(src, "fail", f"{name} {split} images"',
        ("tests/data/test_real_noise.py",),
        "check_every_file",
    ),
    Mutation(
        "file stream: the evaluation crop at 0.875, not the memory decoding's",
        "robustloss/training/feed.py",
        "            config, data.image_size, data.resize_fraction\n",
        "            config, data.image_size\n",
        ("tests/training/test_real_noise_run.py",),
        "memory_pipelines_numbers",
    ),
    Mutation(
        "file stream: image_size 0 not resolved to the dataset's standard size",
        BLD,
        '        "image_size": int(ds.meta.get("image_size") or 0),\n',
        '        "image_size": int(d.get("image_size", 0)),\n',
        ("tests/training/test_real_noise_run.py",),
        "standard_size",
    ),
    Mutation(
        "build: extra evaluation sets not normalised with dataset.mean/std (memory)",
        BLD,
        "n: (_inputs(d, x), np.asarray(y, np.int32))",
        "n: (x, np.asarray(y, np.int32))",
        ("tests/training/test_real_noise_run.py",),
        "memory_pipelines_numbers",
    ),
    # tracking (issue 20) and sweep faults (issue 21)
    Mutation(
        "diagnostics: memorisation counted against the clean label",
        "robustloss/training/diagnostics.py",
        '"noise/memorisation": _nan_div(jnp.sum(noisy & as_given), n_noisy),',
        '"noise/memorisation": _nan_div(jnp.sum(noisy & as_clean), n_noisy),',
        ("tests/training/test_diagnostics.py",),
        "numpy_transcription",
    ),
    Mutation(
        "diagnostics: memorisation over all examples, not the noisy ones (issue 20's plant)",
        "robustloss/training/diagnostics.py",
        '"noise/memorisation": _nan_div(jnp.sum(noisy & as_given), n_noisy),',
        '"noise/memorisation": _nan_div(jnp.sum(ok & as_given), jnp.sum(ok)),',
        ("tests/training/test_diagnostics.py",),
        "numpy_transcription",
    ),
    Mutation(
        "diagnostics: detection precision and recall swapped (issue 20's plant)",
        "robustloss/training/diagnostics.py",
        '"noise/detect_precision": _nan_div(hits, jnp.sum(flagged)),\n'
        '        "noise/detect_recall": _nan_div(hits, n_noisy),',
        '"noise/detect_precision": _nan_div(hits, n_noisy),\n'
        '        "noise/detect_recall": _nan_div(hits, jnp.sum(flagged)),',
        ("tests/training/test_diagnostics.py",),
        "numpy_transcription",
    ),
    Mutation(
        "diagnostics: an undefined metric written as NaN (the run then refuses its line)",
        "robustloss/training/diagnostics.py",
        "    out = [None if np.isnan(x) else float(x) for x in arr.reshape(-1)]\n",
        "    out = [float(x) for x in arr.reshape(-1)]\n",
        ("tests/training/test_diagnostics.py",),
        "undefined",
    ),
    Mutation(
        "writers: a resumed TensorBoard run keeps the rolled-back epochs' points (a point "
        "twice: issue 20's plant)",
        "robustloss/training/writers.py",
        "        for old in stale:  # the replayed history",
        "        for old in []:  # the replayed history",
        ("tests/training/test_writers.py",),
        "kill_and_a_resume or replays",
    ),
    Mutation(
        "sweep: every cell of a pack gets run 0's examples.parquet rows",
        "robustloss/sweep/worker.py",
        'pc.equal(table["run"], r)',
        'pc.equal(table["run"], 0)',
        ("tests/sweep/test_train.py",),
        "packed_cells_equal_standalone",
    ),
    Mutation(
        "lock: a second driver shares the driver lock",
        "robustloss/sweep/lock.py",
        "        mode = fcntl.LOCK_SH if self.read_only else fcntl.LOCK_EX\n",
        "        mode = fcntl.LOCK_SH\n",
        ("tests/sweep/test_faults.py",),
        "second_driver",
    ),
    Mutation(
        "sweep: a full disk marks the cells FAILED instead of leaving them pending",
        "robustloss/sweep/worker.py",
        '            out["status"] = "env" if env else "failed"\n',
        '            out["status"] = "failed"\n',
        ("tests/sweep/test_faults.py",),
        "full_disk",
    ),
    Mutation(
        "cells: DONE's checksums not compared (an edited cell counts as done)",
        "robustloss/sweep/cells.py",
        "        if digest != files[name]:\n",
        "        if False:\n",
        ("tests/sweep/test_faults.py",),
        "damaged_cells",
    ),
    Mutation(
        "isolated runs: a run stopped after its epoch (metric, evaluation) keeps training",
        "robustloss/training/trainer.py",
        "            ok = alive & jnp.isfinite(loss) & (stats.nonfinite == NO_NONFINITE)\n",
        "            ok = jnp.isfinite(loss) & (stats.nonfinite == NO_NONFINITE)\n",
        ("tests/training/test_trainer.py",),
        "isolated_runs",
    ),
    Mutation(
        "run: a NaN epoch metric written into metrics.jsonl",
        "robustloss/training/run.py",
        "                _check_finite_metrics(record, epoch + 1)\n",
        "                pass\n",
        ("tests/training/test_run.py",),
        "nonfinite_epoch_metric",
    ),
]


# ------------------------------------------------------------------------------- table checks


def _test_names(path: str) -> list[str]:
    """``module::Class::test`` for the test functions of a test file (parsed, not imported)."""
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    module = os.path.basename(path)
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            names.append(f"{module}::{node.name}")
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef) and sub.name.startswith("test"):
                    names.append(f"{module}::{node.name}::{sub.name}")
    return names


_K_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def k_selects(expr: str, name: str) -> bool:
    """Whether pytest's ``-k expr`` selects test ``name`` (``module::[Class::]function``).

    pytest matches each identifier of the expression as a case-insensitive substring of the
    names of the test and of its parents (function, class, module); ``and``/``or``/``not`` and
    parentheses combine them. Parametrize ids are not known here (the test is not collected),
    so an expression that only matches an id reads as selecting nothing.
    """
    parts = [p.lower() for p in name.split("::")]
    out = []
    for tok in _K_TOKEN.findall(expr):
        if tok in ("(", ")", "and", "or", "not"):
            out.append(tok)
        else:
            out.append(str(any(tok.lower() in p for p in parts)))
    return bool(eval(" ".join(out) or "True", {"__builtins__": {}}))  # only True/False/ops


def check_table(mutations: list[Mutation] | None = None, root: str = ROOT) -> list[str]:
    """The problems of the mutation table (empty when every mutation can run as written).

    Checks, for each mutation: its file exists; ``old`` occurs in it exactly once and differs
    from ``new``; the mutated Python file still parses (a mutant that does not even import is
    "caught" by any test, a fake kill); each test file exists; the ``-k`` expression selects
    at least one test function of those files. Names must be unique.
    """
    mutations = MUTATIONS if mutations is None else mutations
    problems = []
    seen: set[str] = set()
    for m in mutations:
        where = f"mutation {m.name!r} ({m.path})"
        if m.name in seen:
            problems.append(f"{where}: the name is used twice")
        seen.add(m.name)
        path = os.path.join(root, m.path)
        if not os.path.exists(path):
            problems.append(f"{where}: the file does not exist")
            continue
        with open(path) as f:
            text = f.read()
        count = text.count(m.old)
        if count != 1:
            problems.append(f"{where}: its text occurs {count} times (must be once): {m.old!r}")
        elif m.old == m.new:
            problems.append(f"{where}: old and new are the same text")
        elif path.endswith(".py"):
            try:
                ast.parse(text.replace(m.old, m.new))
            except SyntaxError as e:
                problems.append(f"{where}: the mutated file does not parse ({e})")
        names = []
        for t in m.tests:
            tpath = os.path.join(root, t)
            if not os.path.exists(tpath):
                problems.append(f"{where}: test file {t} does not exist")
            else:
                names += _test_names(tpath)
        if names and m.k and not any(k_selects(m.k, n) for n in names):
            problems.append(f"{where}: -k {m.k!r} selects no test of {' '.join(m.tests)}")
    return problems


# ------------------------------------------------------------------------------------ running


def scratch_copy(root: str = ROOT) -> str:
    """A copy of the repository in a new temporary directory (no .git, environments, caches)."""
    dst = os.path.join(tempfile.mkdtemp(prefix="robustloss-mutants-"), "repo")
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns(*_SKIP), symlinks=True)
    return dst


_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def _first_failure(output: str) -> str:
    """The first failing test of pytest's short summary (``-q``), without its file path."""
    m = _FAILED.search(output)
    return m.group(1).split("::", 1)[-1] if m else ""


def run_one(mut: Mutation, repo: str, timeout: float) -> tuple[str, float, str]:
    """Applies ``mut`` in ``repo`` (a scratch copy), runs its tests, restores the file.

    Returns:
        ``(result, seconds, test)``: ``caught``/``MISSED``/..., the wall time, and the first
        test that failed (empty when none did).
    """
    path = os.path.join(repo, mut.path)
    with open(path) as f:
        original = f.read()
    if original.count(mut.old) != 1:  # check_table ran first; kept for direct callers
        return f"stale ({original.count(mut.old)} matches)", 0.0, ""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mut.tests]
    if mut.k:
        cmd += ["-k", mut.k]
    env = dict(os.environ, PYTHONPATH=repo, PYTHONDONTWRITEBYTECODE="1")
    # tests.shared_data looks beside the checkout; the scratch copy is elsewhere.
    shared = os.path.join(os.path.dirname(ROOT), "shared", "data")
    env.setdefault("ROBUSTLOSS_SHARED_DATA", shared)
    proc = None
    try:
        with open(path, "w") as f:
            f.write(original.replace(mut.old, mut.new))
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, rc = proc.communicate()[0], -1
        dt = time.perf_counter() - t0
        if rc == 5:
            return "no tests selected", dt, ""
        if rc == -1:
            return "caught (timeout)", dt, ""
        return ("caught" if rc != 0 else "MISSED"), dt, _first_failure(out or "")
    finally:
        if proc is not None and proc.poll() is None:  # interrupted: stop the test run too
            proc.kill()
            proc.wait()
        with open(path, "w") as f:
            f.write(original)


def module_of(path: str) -> str:
    """The module a mutation is reported under: the package folder, or the file."""
    parts = path.split("/")
    if parts[0] == "robustloss" and len(parts) > 2:
        return "/".join(parts[:2]) + "/"
    return path


def kill_rates(results: list[dict]) -> dict[str, tuple[int, int]]:
    """``module -> (caught, run)`` over ``results`` (``{"path", "result"}`` records)."""
    out: dict[str, tuple[int, int]] = {}
    for r in results:
        mod = module_of(r["path"])
        caught, total = out.get(mod, (0, 0))
        out[mod] = (caught + r["result"].startswith("caught"), total + 1)
    return out


def _write_json(path: str, results: list[dict]) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"results": results}, f, indent=1)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--match", nargs="*", default=[], help="substrings of mutation names")
    ap.add_argument("-f", "--file", nargs="*", default=[], help="substrings of mutated paths")
    ap.add_argument("--list", action="store_true", help="print the selected mutations")
    ap.add_argument("--check", action="store_true", help="check the table only")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per mutation")
    ap.add_argument("--json", default="", help="also write the results here (after each one)")
    args = ap.parse_args(argv)
    problems = check_table()
    if problems:
        print("the mutation table is stale; fix or retarget these mutations:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 2
    muts = [
        m
        for m in MUTATIONS
        if (not args.match or any(s in m.name for s in args.match))
        and (not args.file or any(s in m.path for s in args.file))
    ]
    if args.check:
        print(f"mutation table OK: {len(MUTATIONS)} mutations")
        return 0
    if args.list:
        for m in muts:
            print(f"{m.name}  [{m.path}; {' '.join(m.tests)} -k {m.k!r}]")
        return 0
    # SIGTERM (kill, a timeout) ends the pass like Ctrl-C: the test run stops, the copy goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    repo = scratch_copy()
    print(f"scratch copy: {repo}", file=sys.stderr)
    results: list[dict] = []
    try:
        print("| mutation | file | tests (-k) | result | caught by | s |", flush=True)
        print("|---|---|---|---|---|---|", flush=True)
        for m in muts:
            result, dt, by = run_one(m, repo, args.timeout)
            sel = " ".join(os.path.basename(t) for t in m.tests) + (f" -k '{m.k}'" if m.k else "")
            print(f"| {m.name} | {m.path} | {sel} | {result} | {by} | {dt:.0f} |", flush=True)
            results.append(
                {"name": m.name, "path": m.path, "result": result, "by": by, "seconds": dt}
            )
            if args.json:
                _write_json(args.json, results)
    finally:
        shutil.rmtree(os.path.dirname(repo), ignore_errors=True)
    print("\n| module | caught / run |\n|---|---|")
    for mod, (caught, total) in sorted(kill_rates(results).items()):
        print(f"| {mod} | {caught}/{total} |")
    caught = sum(r["result"].startswith("caught") for r in results)
    print(f"\n{caught}/{len(results)} caught", flush=True)
    return 1 if caught < len(results) else 0


if __name__ == "__main__":
    sys.exit(main())
