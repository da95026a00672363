import json
import subprocess
import sys

import pytest
import torch

import nnprof
from nnprof.report import Report
from nnprof.testing import HEALTH_CHECKS, assert_healthy

from .tiny import Constant, ViewMixer, cls_batch, hot_bias, mlp

SANITY = "loss-at-init,batch-independence,overfit-batch,input-independence,dropout-before-batchnorm"


def test_import_nnprof_does_not_import_torch():
    code = "import sys, nnprof; assert 'torch' not in sys.modules, 'torch imported'; print(nnprof.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == nnprof.__version__


def test_profile_returns_a_report_with_the_json_fields():
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = nnprof.profile(model, cls_batch(), device="cpu")
    assert isinstance(report, Report)
    data = json.loads(report.to_json())
    for key in ("version", "model", "device", "dtype", "params", "trainable_params", "flops", "throughput", "findings"):
        assert key in data
    assert data["model"] == "Sequential" and data["device"] == "cpu" and data["dtype"] == "bfloat16"
    assert data["params"] == sum(p.numel() for p in model.parameters())
    assert not [f for f in report.findings if f.severity != "info" and f.check in SANITY.split(",")]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training


def test_profile_selects_checks_and_writes_html(tmp_path):
    report = nnprof.profile(hot_bias(), cls_batch(), checks="loss-at-init,lr-range", device="cpu", name="hot")
    assert {f.check for f in report.findings} == {"loss-at-init", "lr-range"}
    [f] = [f for f in report.findings if f.check == "loss-at-init"]
    assert f.severity == "warning" and f.details["ratio"] > 2
    assert set(report.extras["check_status"]) == {"loss-at-init", "lr-range"}
    page = report.to_html(str(tmp_path / "r.html"))
    assert (tmp_path / "r.html").read_text() == page and "<svg" in page and "hot" in page


def test_profile_with_a_custom_loss_and_example_input():
    x, y = torch.randn(16, 20), (torch.rand(16, 10) > 0.5).float()
    report = nnprof.profile(mlp(), (x, y), torch.nn.BCEWithLogitsLoss(), checks=["loss-at-init"], device="cpu",
                            example_input=x[:4])
    assert report.extras["loss-at-init"]["kind"] == "bce"


def test_profile_rejects_bad_inputs():
    with pytest.raises(nnprof.ModelLoadError, match="forward"):
        nnprof.profile(mlp(), (torch.randn(4, 7), torch.tensor([0, 1, 2, 3])), device="cpu")
    with pytest.raises(ValueError, match="unknown check"):
        nnprof.profile(mlp(), cls_batch(), checks="no-such-check", device="cpu")
    with pytest.raises(TypeError):
        nnprof.profile(mlp(), torch.randn(4, 20), device="cpu")


def test_assert_healthy_passes_on_a_healthy_model():
    report = assert_healthy(mlp(), cls_batch(), device="cpu")
    assert set(report.extras["check_status"]) <= set(HEALTH_CHECKS)


def test_assert_healthy_lists_failed_checks_with_numbers():
    with pytest.raises(AssertionError) as err:
        assert_healthy(Constant(), cls_batch(), checks=SANITY, device="cpu")
    text = str(err.value)
    assert "Constant is not healthy: 2 check(s) failed (input-independence, overfit-batch)" in text
    assert "overfit-batch [warning]" in text and "initial_loss=2.303" in text and "final_loss=" in text
    assert "input-independence [warning]" in text and "zeroed_loss=" in text


def test_assert_healthy_errors_and_ignore():
    x = torch.randn(6, 5, 4)
    with pytest.raises(AssertionError, match=r"batch-independence \[error\] at `block`"):
        assert_healthy(ViewMixer(), (x, torch.randn(6, 5, 3)), checks=["batch-independence"], device="cpu")
    assert_healthy(ViewMixer(), (x, torch.randn(6, 5, 3)), checks=["batch-independence"], ignore=["batch-independence"],
                   device="cpu")
