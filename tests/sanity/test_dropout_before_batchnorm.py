import torch
from torch import nn

from .conftest import run_check
from .tiny import FunctionalDropoutBN, cls_batch, dropout_linear_bn, dropout_then_bn, make_ctx, mlp


def test_nested_dropout_feeding_batch_norm_names_both_paths():
    [f] = run_check("dropout-before-batchnorm", make_ctx(dropout_then_bn, cls_batch()))
    assert f.severity == "warning" and f.module == "1.0"
    assert f.details == {"dropout": "1.0", "batchnorm": "1.1.1", "ops": ["relu"]}
    assert "`1.0`" in f.message and "`1.1.1`" in f.message


def test_a_linear_in_between_is_fine():
    assert run_check("dropout-before-batchnorm", make_ctx(dropout_linear_bn, cls_batch())) == []


def test_functional_dropout_and_arithmetic_in_forward():
    [f] = run_check("dropout-before-batchnorm", make_ctx(FunctionalDropoutBN, cls_batch()))
    assert f.details["batchnorm"] == "bn" and f.details["ops"] == ["mul", "add"]
    assert "F.dropout in the forward of `(the model)`" in f.message


def test_found_even_when_the_model_is_in_eval_mode_and_state_is_restored():
    ctx = make_ctx(dropout_then_bn, cls_batch())
    ctx.model.eval()
    stats = ctx.model[1][1][1].running_mean.clone()
    assert len(run_check("dropout-before-batchnorm", ctx)) == 1
    assert not ctx.model.training
    assert torch.equal(stats, ctx.model[1][1][1].running_mean)


def test_no_dropout_or_no_batch_norm_is_silent():
    assert run_check("dropout-before-batchnorm", make_ctx(mlp, cls_batch())) == []
    build = lambda: nn.Sequential(nn.Linear(20, 8), nn.Dropout(), nn.LayerNorm(8))  # noqa: E731
    assert run_check("dropout-before-batchnorm", make_ctx(build, cls_batch())) == []


def test_dropout_to_batchnorm_through_a_residual_add():
    class Res(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.drop, self.bn = nn.Linear(20, 20), nn.Dropout(0.1), nn.BatchNorm1d(20)

        def forward(self, x):
            return self.bn(x + self.drop(self.fc(x)))

    [f] = run_check("dropout-before-batchnorm", make_ctx(Res, cls_batch()))
    assert f.details["dropout"] == "drop" and f.details["ops"] == ["add"]
