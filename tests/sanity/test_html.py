import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import nnprof
from nnprof.render.html import render_html

from .tiny import cls_batch, hot_bias

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def report():
    return nnprof.profile(hot_bias(), cls_batch(), checks="all", device="cpu", name="hot-bias-mlp")


@pytest.fixture(scope="module")
def page(report):
    return render_html(report)


def test_self_contained(page):
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"url\(\s*['\"]?https?:", page)


def test_summary_findings_and_all_plots(report, page):
    assert "hot-bias-mlp" in page and "loss-at-init" in page and "warning" in page
    assert page.count("<svg") == 5  # gradients, activations, FLOP share, overfit curve, LR range
    for caption in ("Gradient norm per layer", "dead units", "FLOP share per module", "overfit-batch:", "lr-range:"):
        assert caption in page
    suggested = report.extras["lr-range"]["suggested_lr"]
    assert f"suggested {suggested:.2g}" in page


def test_absent_data_is_skipped():
    minimal = {"model": "m", "device": "cpu", "dtype": "bfloat16", "params": 1, "trainable_params": 1,
               "flops": {}, "throughput": {}, "findings": []}
    page = render_html(minimal)
    assert "<svg" not in page and "No data to plot" in page and "healthy" in page


def test_messages_are_escaped():
    bad = {"model": "<m>", "findings": [{"check": "x", "severity": "error", "module": "a<b",
                                          "message": "<script>alert(1)</script>", "details": {"k": "<i>"}}]}
    page = render_html(bad)
    assert "<script>" not in page and "&lt;script&gt;" in page and "a&lt;b" in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")
def test_headless_chromium_renders_the_report(tmp_path, report):
    html_path, png = tmp_path / "report.html", tmp_path / "report.png"
    report.to_html(str(html_path))
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--screenshot={png}", "--window-size=1280,2200", html_path.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a blank page is a few kB
    if os.environ.get("NNPROF_SCREENSHOT_DIR"):  # to look at it: NNPROF_SCREENSHOT_DIR=/tmp pytest ...
        shutil.copy(png, Path(os.environ["NNPROF_SCREENSHOT_DIR"]) / "nnprof-report.png")


def test_overfit_caption_gives_the_final_loss_and_accuracy():
    from nnprof.render.html import plot_overfit

    extras = {"overfit-batch": {"loss": [2.3, 1.1, 0.4], "accuracy": [0.1, 0.6, 1.0], "passed": True, "stopped": "converged"}}
    _, caption = plot_overfit(extras)
    assert "fitted after 3 steps (final loss 0.4, accuracy 100%)" in caption
    extras = {"overfit-batch": {"loss": [5.0, 4.9], "passed": False, "stopped": "budget"}}
    assert "not fitted (budget) after 2 steps (final loss 4.9)" in plot_overfit(extras)[1]
