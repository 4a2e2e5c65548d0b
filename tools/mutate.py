"""Mutation pass: apply one plausible bug at a time, run the tests that should catch it, restore.

Each mutation is a textual replacement ``old -> new`` in one source file (``old`` must occur
exactly once) and a pytest selection (test files and an optional ``-k`` expression). A mutation
is *caught* when pytest fails. The source file is restored after every run, also on Ctrl-C or
an exception; a backup ``<file>.mutate-backup`` is written first, and a run that was killed
(``kill -9``) is repaired by the next start, which restores any backup it finds.

Not part of ``make test`` (it runs the selected tests once per mutation). Usage, from the
repository root::

    PYTHONPATH=$PWD python tools/mutate.py                 # all mutations
    PYTHONPATH=$PWD python tools/mutate.py -m dws tv       # names containing "dws" or "tv"
    PYTHONPATH=$PWD python tools/mutate.py --list

Prints a Markdown table (mutation, file, tests, caught/missed, seconds) and exits with status 1
if any mutation was missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import subprocess
import sys
import time

from robustloss._io import atomic_write

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKUP = ".mutate-backup"


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    k: str = ""


U = "robustloss/transition/_utilise.py"
E = "robustloss/transition/_estimators.py"
O = "robustloss/transition/_objective.py"  # noqa: E741
NG = "robustloss/noise/_generators.py"
NP = "robustloss/noise/_paper_code.py"
LF = "robustloss/data/_labels.py"
MT = "robustloss/transition/_methods.py"
M = "robustloss/training/metrics.py"
C = "robustloss/losses/_common.py"
DS = "robustloss/data/_sources.py"
DL = "robustloss/data/_load.py"
TT = ("tests/transition/test_transition.py",)
TE = ("tests/transition/test_estimators.py",)
TN = ("tests/noise/test_noise.py",)
TL = ("tests/data/test_labels.py",)
TM = ("tests/training/test_trainer.py",)
TR = ("tests/test_registry.py",)
TD = ("tests/data/test_data.py",)
TRN = "robustloss/training/trainer.py"
RUN = "robustloss/training/run.py"
BLD = "robustloss/training/build.py"
WD = "robustloss/training/workdir.py"
CFG = "robustloss/training/config.py"
CB = "configs/base.py"
TTR = ("tests/training/test_run.py",)
TW = ("tests/training/test_workdir.py",)
TC = ("tests/configs/test_configs.py",)

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
        MT,
        "est.forward_nll(probs, labels, T, mask) + o.volmin_lambda * jnp.linalg.slogdet(T)[1]",
        "est.forward_nll(probs, labels, T, mask) - o.volmin_lambda * jnp.linalg.slogdet(T)[1]",
        TE,
        "volminnet or volume",
    ),
    Mutation(
        "volminnet: log-det term dropped",
        MT,
        "est.forward_nll(probs, labels, T, mask) + o.volmin_lambda * jnp.linalg.slogdet(T)[1]",
        "est.forward_nll(probs, labels, T, mask)",
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
        LF,
        "if arr.shape[1] == 1:\n                return arr[:, 0]",
        "if arr.shape[1] >= 1:\n                return arr.reshape(-1)",
        TL,
        "label_file or from_labels",
    ),
    Mutation(
        "label file: any non-integer first line taken as a header",
        LF,
        "elif all(_NAME.match(c) for c in cells):",
        "elif not all(_is_int(c) for c in cells):",
        TL,
        "label_file or from_labels",
    ),
    Mutation(
        "label file: longer than the dataset accepted",
        LF,
        "if n != int(expected_rows):",
        "if n < int(expected_rows):",
        TL,
        "label_file or from_labels",
    ),
    Mutation(
        "from_labels: float 0.5 truncated to an id",
        NG,
        "bad = np.flatnonzero(~np.isfinite(f) | (f != np.round(f)))",
        "bad = np.flatnonzero(~np.isfinite(f))",
        TL,
        "label_file or from_labels",
    ),
    Mutation(
        "from_labels: longer noisy array accepted",
        NG,
        'if len(z) != len(y):\n        raise ValueError(f"{source}:',
        'if len(z) < len(y):\n        raise ValueError(f"{source}:',
        TL,
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
        "losses: output NaN mask dropped (label -1 reads class K-1)",
        C,
        "            out = jnp.where(ok, out, jnp.nan)\n",
        "",
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
        "            if (bad > 0).any():\n",
        "            if False:\n",
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
]


def _restore_leftovers() -> None:
    found = [
        b
        for top in ("robustloss", "configs")
        for b in glob.glob(os.path.join(ROOT, top, "**", "*" + BACKUP), recursive=True)
    ]
    for backup in found:
        target = backup[: -len(BACKUP)]
        with open(backup, "rb") as f:
            atomic_write(target, f.read())
        os.remove(backup)
        print(f"restored {os.path.relpath(target, ROOT)} from a killed run", file=sys.stderr)


def run_one(mut: Mutation, timeout: float) -> tuple[str, float]:
    path = os.path.join(ROOT, mut.path)
    with open(path) as f:
        original = f.read()
    count = original.count(mut.old)
    if count != 1:
        return f"stale ({count} matches)", 0.0
    backup = path + BACKUP
    atomic_write(backup, original)  # whole or absent: a killed run never restores half a file
    try:
        atomic_write(path, original.replace(mut.old, mut.new))
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mut.tests]
        if mut.k:
            cmd += ["-k", mut.k]
        env = dict(os.environ, PYTHONPATH=ROOT)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -1
        dt = time.perf_counter() - t0
        if rc == 5:
            return "no tests selected", dt
        return ("caught" if rc != 0 else "MISSED"), dt
    finally:
        atomic_write(path, original)
        os.remove(backup)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--match", nargs="*", default=[], help="substrings of mutation names")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    _restore_leftovers()
    muts = [m for m in MUTATIONS if not args.match or any(s in m.name for s in args.match)]
    if args.list:
        for m in muts:
            print(f"{m.name}  [{m.path}; {' '.join(m.tests)} -k {m.k!r}]")
        return 0
    print("| mutation | file | tests (-k) | result | s |\n|---|---|---|---|---|", flush=True)
    missed = 0
    for m in muts:
        result, dt = run_one(m, args.timeout)
        missed += result != "caught"
        sel = " ".join(os.path.basename(t) for t in m.tests) + (f" -k '{m.k}'" if m.k else "")
        print(f"| {m.name} | {m.path} | {sel} | {result} | {dt:.0f} |", flush=True)
    print(f"\n{len(muts) - missed}/{len(muts)} caught", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
