"""Test setup: run JAX on CPU with 4 simulated devices so data-parallel paths are exercised.

Tests pick 1, 2 or 4 of these devices explicitly (more than 4 can stall in collectives on 2
cores, docs/design.md §11). The flag must be set before JAX initialises its backend.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flag = "--xla_force_host_platform_device_count=4"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
