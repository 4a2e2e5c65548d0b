"""Shared helpers of the benchmarks: summary statistics and the atomic ``results/bench.json``."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time

from robustloss._io import write_json


def stats(samples: list[float]) -> dict:
    """``{"median", "min", "max", "n", "samples"}`` of a list of timings (seconds)."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
        "samples": list(samples),
    }


def fmt(s: dict, unit: str = "s", scale: float = 1.0) -> str:
    """``median (min-max) unit`` of a `stats` dict."""
    return f"{s['median'] * scale:.4g} ({s['min'] * scale:.4g}-{s['max'] * scale:.4g}) {unit}"


def machine() -> dict:
    """Host, load, date and library versions, recorded with every section."""
    import jax
    import numpy as np

    info = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "cpu": _cpu_model(),
        "load_average_1_5_15": list(os.getloadavg()),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "numpy": np.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def update_section(path: str, name: str, payload: dict) -> None:
    """Sets ``bench[name] = payload`` in the JSON file at ``path``, atomically (write + rename)."""
    data: dict = {}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    data[name] = payload
    write_json(path, data)
