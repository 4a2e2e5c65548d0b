"""The GPU check script runs end to end (``--smoke``: tiny sizes on the CPU) and writes its JSON."""

import json
import sys

import pytest

from tests import ROOT


@pytest.mark.slow  # seven small compilations: about 30 s of CPU
def test_gpu_check_smoke_writes_every_section(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import gpu_check

    out_path = tmp_path / "bench_gpu.json"
    out = gpu_check.main(["--smoke", "--json", str(out_path)])
    saved = json.loads(out_path.read_text())["gpu_check"]
    assert saved["smoke"] and saved["devices"] == ["cpu:cpu"]
    dtype = saved["resnet18_dtype"]
    assert dtype["float32"]["steps_per_s"]["median"] > 0 and dtype["bfloat16_speedup"] > 0
    packs = saved["packs"]["packs"]
    assert set(packs) == {"1", "2"} and packs["1"]["standalone"]
    assert packs["2"]["speedup_vs_sequential"] > 0
    r50 = saved["resnet50_stream"]
    assert r50["pipeline_images_per_s"] > 0 and r50["together_steps_per_s"] > 0
    assert r50["verdict"].split("-")[0] in ("pipeline", "compute")
    assert out["seconds"] == saved["seconds"]
    sys.modules.pop("gpu_check", None)
