#!/usr/bin/env bash
# A first check of an accelerator in <= 8 minutes: writes results/bench_gpu.json.
#
#   bench/gpu_check.sh            # on the GPU machine (jax with CUDA, the [train] extra)
#   bench/gpu_check.sh --smoke    # tiny sizes, any device: checks that the script runs
#
# Sections (bench/gpu_check.py): ResNet-18 CIFAR-shaped float32 vs bfloat16 steps/s; packs of
# 1/4/8/16 vmapped runs vs sequential; ResNet-50 at 224 fed by the grain stream from JPEGs
# generated on local disk (pipeline- or compute-bound?). Extra arguments go to gpu_check.py
# (e.g. --workers 14 --budget-s 400). The Python is $PYTHON (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
mkdir -p results
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
"$PY" -c 'import jax; print("jax", jax.__version__, jax.devices())'
# 480 s: the whole check, start-up and compilation included, stays within 8 minutes.
exec timeout 480 "$PY" bench/gpu_check.py --json "${GPU_CHECK_JSON:-results/bench_gpu.json}" "$@"
