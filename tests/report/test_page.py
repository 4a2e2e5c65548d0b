"""The sweep report page: self-contained HTML whose tables and images render in headless
Chromium with no script error (skipped with the reason where Chromium is not installed)."""

import base64
import html.parser
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from configs import test as test_config
from robustloss.report.page import build_page, cell_rows, write_page
from robustloss.sweep import cells_from_grid, product, results, zip
from robustloss.sweep.cells import write_cell, write_failed
from tests import ROOT
from tests.report._browser import chromium, load_page

ERROR = "NonFiniteLossError: <script>alert('x')</script> at epoch 0"


def fake_sweep(sweep: str) -> list:
    """8 finished cells (CE and GCE x 2 noise rates x 2 seeds, 3 epochs of made-up metrics with
    noise diagnostics) and a failed one whose error holds HTML."""
    grid = product(zip(loss=["ce", "gce"], q=[None, 0.7]), rate=[0.2, 0.4], seed=[0, 1])
    cells = cells_from_grid(test_config.get_config, grid + [{"loss": "mae"}], "epochs=3")
    rng = np.random.default_rng(0)
    for c in cells[:-1]:
        hist = []
        for e in (1, 2, 3):
            acc = 0.6 + 0.1 * e - c.config["noise"]["rate"] / 2 + 0.02 * rng.random()
            hist.append(
                {
                    "epoch": e,
                    "test/top1": acc,
                    "val/top1": acc - 0.05,
                    "train/acc_noisy": 0.5,
                    "train/acc_clean": 0.7,
                    "noise/memorisation": 0.05 * e,
                    "noise/auroc_loss": 0.9,
                    "noise/detect_precision": 0.8,
                    "time": 1.0,
                }  # fmt: skip
            )
        summary = {"final": hist[-1], "complete": True, "num_epochs": 3}
        write_cell(sweep, c, hist, summary, {"program": c.config["loss"]["name"], "wall": 2.0})
    write_failed(sweep, cells[-1], ERROR + "\nTraceback ...", {"program": "m", "wall": 0.3})
    results.rebuild(sweep)
    with open(os.path.join(sweep, "sweep.json"), "w") as f:
        json.dump({"cells": [{"id": c.id, "arg": c.arg, "values": c.values} for c in cells]}, f)
    return cells


class _Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.refs, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if tag == "img" and name == "src":
                self.images.append(value)
            elif name in ("src", "href"):
                self.refs.append(value)


def test_page_is_self_contained_with_status_tables_and_plots(tmp_path):
    sweep = str(tmp_path / "sweep")
    cells = fake_sweep(sweep)
    rows = cell_rows(sweep)
    assert [r["status"] for r in rows] == ["done"] * 8 + ["failed"]
    assert rows[-1]["error"].startswith("NonFiniteLossError")
    text = build_page(sweep)
    refs = _Refs()
    refs.feed(text)
    assert refs.refs == []  # no file, stylesheet or script outside the page
    assert len(refs.images) == 5  # accuracy vs noise, 2 learning curves, 2 noise-curve plots
    for src in refs.images:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert im.format == "PNG" and im.width > 100
            im.load()  # the whole image decodes (a cut-short PNG raises here)
    assert refs.tags.count("table") == 1 + 3 * 1 + 2  # results, 3 noise tables, summary, cells
    assert "<script>alert" not in text and "&lt;script&gt;alert" in text  # the error is text
    for c in cells:
        assert c.id in text
    assert "CE" in text and "Sym 0.4" in text and "Noise diagnostics" in text


def test_report_cli_writes_the_page(tmp_path):
    sweep = str(tmp_path / "sweep")
    fake_sweep(sweep)
    out = subprocess.run(
        [sys.executable, "-m", "experiments.report", "--sweep", sweep, "--select", "last"],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == f"wrote {sweep}/report.html"
    assert os.path.getsize(os.path.join(sweep, "report.html")) > 10_000


needs_chromium = pytest.mark.skipif(
    chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; `make test` does it as "
    "root)",
)


@needs_chromium
def test_page_renders_in_headless_chromium(tmp_path):
    sweep = str(tmp_path / "sweep")
    fake_sweep(sweep)
    path = write_page(sweep)
    # the cell filter works: typing "failed" leaves the failed cell
    script = """(() => { const box = document.getElementById("cell-filter");
        box.value = "failed"; box.dispatchEvent(new Event("input"));
        return document.getElementById("cells-shown").textContent; })()"""
    page = load_page(path, script)
    assert page["errors"] == []
    assert len(page["images"]) == 5
    for i in page["images"]:  # decoded, whole (a matplotlib figure is opaque everywhere)
        assert i["complete"] and i["width"] > 100 and i["opaque"] == 1.0, i
    assert page["tables"] == 6 and page["rows"] > 9 + 4
    assert page["title"] == "Sweep sweep" and page["result"] == "1"


@needs_chromium
def test_the_browser_check_sees_a_broken_image_and_a_script_error(tmp_path):
    """The check above cannot pass vacuously: a broken image and a failing script are seen."""
    page = tmp_path / "bad.html"
    good = (  # a 1x1 PNG
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
        "AAAABJRU5ErkJggg=="
    )
    page.write_text(
        f'<html><body><img src="data:image/png;base64,{good}">'
        '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB">'
        "<script>notDefined();</script></body></html>"
    )
    got = load_page(str(page))
    assert [i["width"] for i in got["images"]] == [1, 0]
    assert [i["opaque"] for i in got["images"]] == [1.0, 0]
    assert len(got["errors"]) == 1 and "notDefined" in got["errors"][0]
