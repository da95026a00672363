"""The nnprof command line and the report: JSON per the contract, exit codes 0/1/2, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import nnprof.cli
from nnprof.cli import main
from nnprof.findings import Finding
from nnprof.loading import load_model
from nnprof.report import Report
from nnprof.runner import run_profile

from .conftest import EXAMPLES, MY_CHECKS, ROOT, TINY_MODEL

TOP_LEVEL = ["version", "model", "device", "dtype", "params", "trainable_params", "flops", "throughput", "findings"]
FLOPS = {"total", "unit", "per_sample", "by_module", "coverage", "uncounted_ops"}
FAST = "tc-alignment,exploding-gradients,vanishing-gradients,dead-relu"


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def gpt_json() -> tuple[int, dict]:
    result = _invoke(str(EXAMPLES / "gpt.py"), "--device", "cpu", "--checks", "tc-alignment,throughput",
                     "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def test_json_has_exactly_the_contract_fields(gpt_json) -> None:
    code, data = gpt_json
    assert code == 1  # the vocabulary head is a warning
    assert list(data) == TOP_LEVEL
    assert data["model"].endswith("gpt.py") and data["device"] == "cpu" and data["dtype"] == "bfloat16"
    assert data["params"] == data["trainable_params"] > 3_000_000
    flops = data["flops"]
    assert set(flops) == FLOPS and flops["unit"].startswith("flop") and "multiply-add = 2" in flops["unit"]
    assert flops["per_sample"] == pytest.approx(flops["total"] / 4)
    assert flops["coverage"] == 1.0 and flops["uncounted_ops"] == []
    assert all(set(row) == {"module", "flops", "share"} for row in flops["by_module"])
    assert flops["by_module"][0]["module"] == "lm_head"
    assert sum(row["share"] for row in flops["by_module"]) == pytest.approx(1.0, abs=1e-4)
    tp = data["throughput"]
    assert {"samples_per_s", "step_ms", "mfu", "tokens_per_s"} <= set(tp) and tp["mfu"] is None
    assert tp["tokens_per_s"] == pytest.approx(tp["samples_per_s"] * 32)
    for f in data["findings"]:
        assert set(f) == {"check", "severity", "module", "message", "details"}
        assert f["severity"] in ("info", "warning", "error")
    assert data["findings"][0]["check"] == "tc-alignment" and data["findings"][0]["module"] == "lm_head"


def test_text_report(tmp_path) -> None:
    out = tmp_path / "report.txt"
    result = _invoke(str(EXAMPLES / "resnet_stem.py"), "--device", "cpu", "--checks", "tc-alignment",
                     "--output", str(out))
    assert result.exit_code == 1 and result.stdout == ""
    text = out.read_text()
    assert "Top modules by FLOPs" in text and "stem.0" in text and "Warnings (1)" in text
    assert "fix: pad the input images" in text and "\x1b[" not in text


def test_healthy_model_exits_0() -> None:
    result = _invoke(str(EXAMPLES / "healthy_mlp.py"), "--device", "cpu", "--checks", ",".join(MY_CHECKS))
    assert result.exit_code == 0, result.stdout


def test_bad_model_exits_2_with_one_line(model_file) -> None:
    path = model_file("def build_model():\n    raise RuntimeError('CUDA out of memory? no: bad config')\n")
    result = _invoke(str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (f"nnprof: error: {path}: build_model() raised RuntimeError: "
                                     "CUDA out of memory? no: bad config")
    verbose = _invoke(str(path), "--verbose")
    assert verbose.exit_code == 2 and "Traceback" in verbose.stderr


def test_missing_file_and_usage_errors_exit_2() -> None:
    assert _invoke("nowhere.py").exit_code == 2
    unknown = _invoke(str(EXAMPLES / "healthy_mlp.py"), "--checks", "no-such-check")
    assert unknown.exit_code == 2 and "no-such-check" in unknown.stderr
    assert _invoke(str(EXAMPLES / "healthy_mlp.py"), "--dtype", "int4").exit_code == 2


def test_html_without_its_renderer_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    real = nnprof.cli.importlib.util.find_spec
    monkeypatch.setattr(nnprof.cli.importlib.util, "find_spec",
                        lambda name, *a: None if name == "nnprof.render.html" else real(name, *a))
    result = _invoke(str(EXAMPLES / "healthy_mlp.py"), "--format", "html")
    assert result.exit_code == 2 and "HTML renderer" in result.stderr and len(result.stderr.splitlines()) == 1


def test_meta_device_and_batch_size(model_file) -> None:
    result = _invoke(str(EXAMPLES / "gpt.py"), "--device", "meta", "--checks", FAST + ",throughput", "--format", "json",
                     "--batch-size", "2")
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["device"] == "meta"
    assert data["throughput"]["step_ms"] is None
    assert data["flops"]["per_sample"] == pytest.approx(data["flops"]["total"] / 2)
    skipped = {f["check"] for f in data["findings"] if f["message"].startswith("skipped (meta device)")}
    assert skipped == {"throughput", "exploding-gradients", "vanishing-gradients", "dead-relu"}


def test_run_profile_budget_and_failures(model_file) -> None:
    from nnprof.checks import REGISTRY, register

    @register("test-slow", default=False, budget_s=0.2, needs_batch=False)
    def slow(ctx):
        import time

        time.sleep(2)
        return []

    @register("test-broken", default=False, budget_s=5, needs_batch=False)
    def broken(ctx):
        raise ZeroDivisionError("boom")

    try:
        loaded = load_model(str(model_file(TINY_MODEL)))
        report = run_profile(loaded, device="cpu", checks=["test-slow", "test-broken"])
    finally:
        REGISTRY.pop("test-slow")
        REGISTRY.pop("test-broken")
    status = report.extras["check_status"]
    assert status == {"test-slow": "skipped (budget)", "test-broken": "failed"}
    by_check = {f.check: f for f in report.findings}
    assert by_check["test-slow"].severity == "info" and by_check["test-broken"].severity == "error"
    assert "ZeroDivisionError: boom" in by_check["test-broken"].message
    assert report.exit_code == 1


def test_report_json_is_safe() -> None:
    report = Report("m.py", "cpu", "bfloat16", 1, 1, {"total": float("nan")}, {"step_ms": None},
                    [Finding("x", "info", "", "m", {"v": float("inf"), "t": (1, 2)})], extras={"big": [1] * 5})
    data = json.loads(report.to_json())
    assert list(data) == TOP_LEVEL and data["flops"]["total"] is None
    assert data["findings"][0]["details"] == {"v": None, "t": [1, 2]} and report.exit_code == 0


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_real_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nnprof.cli", str(EXAMPLES / "healthy_mlp.py"), "--device", "cpu", "--checks", FAST,
         "--format", "json"],
        capture_output=True, text=True, env=_env(), timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)) == TOP_LEVEL


def test_without_torch_the_cli_prints_the_install_command() -> None:
    code = "import sys; sys.modules['torch'] = None; from nnprof.cli import main; main(['model.py'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ["nnprof: error: torch is not installed; install the profiler with: "
                                                "pip install 'nnlint[prof]'"]


def test_a_check_over_budget_stops_at_its_next_forward(model_file) -> None:
    """Threads cannot be killed: the runner marks the late check's thread, and its next model call raises,
    so it does not keep training the model beside the checks that follow."""
    import threading
    import time

    from nnprof.checks import REGISTRY, register
    from nnprof.loading import call_model

    calls_after_budget: list[int] = []
    finished = threading.Event()

    @register("test-late", default=False, budget_s=0.2, needs_batch=False)
    def late(ctx):
        time.sleep(0.6)  # past the budget: the runner has moved on
        try:
            for _ in range(50):
                call_model(ctx.model, ctx.example_input)
                calls_after_budget.append(1)
        finally:
            finished.set()
        return []

    try:
        loaded = load_model(str(model_file(TINY_MODEL)))
        report = run_profile(loaded, device="cpu", checks=["test-late"])
    finally:
        REGISTRY.pop("test-late")
    assert report.extras["check_status"] == {"test-late": "skipped (budget)"}
    assert finished.wait(10)
    assert calls_after_budget == []


def test_checks_run_in_the_same_order_whatever_was_imported_first() -> None:
    import subprocess
    import sys

    code = "import nnprof.checks.{first}\nfrom nnprof.runner import select_checks\nprint([s.id for s in select_checks(None)])"
    orders = {
        subprocess.run([sys.executable, "-c", code.format(first=first)], capture_output=True, text=True, check=True).stdout
        for first in ("sanity_training", "throughput", "gradients")
    }
    assert len(orders) == 1
