import math

import torch
import torch.nn.functional as F
from torch import nn

from .conftest import problems, run_check
from .tiny import cls_batch, hot_bias, kaiming, make_ctx, mlp


def test_hot_output_bias_is_a_warning_with_the_prior_fix():
    ctx = make_ctx(hot_bias, cls_batch())
    [f] = run_check("loss-at-init", ctx)
    assert f.severity == "warning" and f.check == "loss-at-init"
    assert f.module == "6"  # the output layer
    assert f.details["kind"] == "cross-entropy" and f.details["classes"] == 10
    assert math.isclose(f.details["expected"], math.log(10), rel_tol=1e-3)
    assert f.details["loss"] > 2 * f.details["expected"]
    assert "bias" in f.message and "prior" in f.message


def test_healthy_classifier_is_silent_and_reports_its_numbers():
    ctx = make_ctx(mlp, cls_batch())
    assert run_check("loss-at-init", ctx) == []
    shared = ctx.shared["loss-at-init"]
    assert shared["kind"] == "cross-entropy" and 2.0 < shared["loss"] < 3.5


def test_multilabel_bce_compares_with_ln2_per_label():
    x = torch.randn(64, 20)
    y = (torch.rand(64, 5) > 0.5).float()

    def hot() -> nn.Module:
        m = mlp(out=5)
        nn.init.constant_(m[-1].bias, 6.0)
        return m

    loss = nn.BCEWithLogitsLoss()
    assert run_check("loss-at-init", make_ctx(lambda: mlp(out=5), (x, y), loss_fn=loss)) == []
    [f] = run_check("loss-at-init", make_ctx(hot, (x, y), loss_fn=loss))
    assert f.details["kind"] == "bce" and math.isclose(f.details["expected"], math.log(2), rel_tol=1e-3)
    assert "log-odds" in f.message


def test_bce_is_recognised_from_a_plain_function_by_its_value():
    x, y = torch.randn(32, 20), (torch.rand(32, 3) > 0.5).float()
    ctx = make_ctx(lambda: mlp(out=3), (x, y), loss_fn=lambda o, t: F.binary_cross_entropy_with_logits(o, t))
    run_check("loss-at-init", ctx)
    assert ctx.shared["loss-at-init"]["kind"] == "bce"


def test_regression_far_from_target_mean_suggests_the_mean_as_bias():
    x = torch.randn(64, 20)
    y = 50 + torch.randn(64, 1)
    [f] = run_check("loss-at-init", make_ctx(lambda: mlp(out=1), (x, y)))
    assert f.details["kind"] == "mse" and f.details["loss"] > 100 * f.details["expected"]
    assert "mean" in f.message and "50" in f.message
    assert run_check("loss-at-init", make_ctx(lambda: mlp(out=1), (x, y - 50))) == []  # standardised targets


def test_token_logits_with_class_dim_last():
    idx, y = torch.randint(0, 30, (4, 8)), torch.randint(0, 30, (4, 8))
    build = lambda: nn.Sequential(nn.Embedding(30, 16), nn.Linear(16, 30))  # noqa: E731
    ctx = make_ctx(build, (idx, y), loss_fn=lambda o, t: F.cross_entropy(o.reshape(-1, 30), t.reshape(-1)))
    assert problems(run_check("loss-at-init", ctx)) == []
    assert ctx.shared["loss-at-init"]["classes"] == 30


def test_unknown_loss_is_info_only():
    ctx = make_ctx(lambda: mlp(out=1), (torch.randn(16, 20), torch.randn(16, 1)), loss_fn=F.l1_loss)
    [f] = run_check("loss-at-init", ctx)
    assert f.severity == "info" and "unknown" in f.message


def test_model_state_is_left_alone():
    ctx = make_ctx(lambda: kaiming(mlp()), cls_batch())
    ctx.model.eval()
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    run_check("loss-at-init", ctx)
    assert not ctx.model.training
    assert all(torch.equal(before[k], v) for k, v in ctx.model.state_dict().items())


def test_no_batch_is_skipped():
    [f] = run_check("loss-at-init", make_ctx(mlp, None))
    assert f.severity == "info" and f.message.startswith("skipped")
