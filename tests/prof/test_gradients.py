"""Gradient health at initialisation: the three reference networks, across seeds, and the edge cases."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nnprof.checks.gradients import (
    GradientStats,
    LayerGrad,
    dead_relu,
    exploding_gradients,
    judge_exploding,
    judge_update_ratios,
    judge_vanishing,
    update_ratio,
    vanishing_gradients,
)

from .conftest import make_ctx, mlp

GRADIENT_CHECKS = (exploding_gradients, vanishing_gradients, dead_relu)


def _run(model: nn.Module, seed: int, *checks) -> dict[str, list[str]]:
    torch.manual_seed(seed + 100)
    x, y = torch.randn(64, 32), torch.randint(0, 10, (64,))
    ctx = make_ctx(model, x, y, dtype=torch.float32)
    out: dict[str, list[str]] = {}
    for check in checks:
        for f in check(ctx):
            out.setdefault(f.check, []).append(f.severity)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_relu_mlp_with_unit_normal_init_explodes(seed: int) -> None:
    torch.manual_seed(seed)
    found = _run(mlp(16, 64, nn.ReLU, std=1.0), seed, *GRADIENT_CHECKS)
    assert found.get("exploding-gradients") == ["warning"]
    assert "vanishing-gradients" not in found


@pytest.mark.parametrize("seed", range(5))
def test_tanh_mlp_with_tiny_init_vanishes(seed: int) -> None:
    torch.manual_seed(seed)
    found = _run(mlp(16, 64, nn.Tanh, std=0.01), seed, *GRADIENT_CHECKS)
    assert found.get("vanishing-gradients") == ["warning"]
    assert "exploding-gradients" not in found


@pytest.mark.parametrize("seed", range(5))
def test_kaiming_batchnorm_mlp_is_healthy(seed: int) -> None:
    torch.manual_seed(seed)
    model = mlp(16, 64, nn.ReLU, kaiming=True, batch_norm=True)
    found = _run(model, seed, *GRADIENT_CHECKS, update_ratio)
    assert found == {}


def test_default_init_deep_relu_mlp_vanishes_by_the_depth_ratio() -> None:
    torch.manual_seed(0)
    found = _run(mlp(16, 64, nn.ReLU), 0, vanishing_gradients)
    assert found == {"vanishing-gradients": ["warning"]}


def test_non_finite_gradients_are_an_error() -> None:
    stats = GradientStats(float("nan"), [LayerGrad("0", "weight", math.nan, 1.0, math.nan, False),
                                         LayerGrad("2", "weight", 1.0, 1.0, 0.1, True)])
    [finding] = judge_exploding(stats)
    assert finding.severity == "error" and finding.module == "0"
    assert judge_vanishing(stats) == []


def test_depth_ratio_above_70_is_exploding() -> None:
    layers = [LayerGrad("first", "weight", 100.0, 10.0, 1e-2, True), LayerGrad("last", "weight", 1.0, 10.0, 1e-3, True)]
    [finding] = judge_exploding(GradientStats(1.0, layers))
    assert finding.module == "first" and finding.details["depth_ratio"] == pytest.approx(100.0)


def test_dead_relu_reports_the_module_and_the_numbers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
    nn.init.constant_(model[0].bias, -100.0)
    x, y = torch.randn(16, 32), torch.randint(0, 10, (16,))
    [finding] = dead_relu(make_ctx(model, x, y))
    assert finding.module == "1" and finding.severity == "warning"
    assert finding.details["dead_units"] == 64 and finding.details["units"] == 64


def test_functional_relu_is_attributed_to_the_calling_module() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)
            nn.init.constant_(self.fc.bias, -50.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.fc(x))

    model = nn.Sequential(Block(), nn.Linear(8, 2))
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    [finding] = dead_relu(make_ctx(model, x, y))
    assert finding.module == "0"


def test_update_ratio_flags_a_learning_rate_far_too_high() -> None:
    torch.manual_seed(0)
    build = lambda: mlp(3, 32, nn.ReLU, kaiming=True)  # noqa: E731
    ctx = make_ctx(build(), torch.randn(16, 32), torch.randint(0, 10, (16,)), build=build)
    ctx.make_optimizer = lambda m: torch.optim.SGD(m.parameters(), lr=50.0)
    [finding] = update_ratio(ctx)
    assert finding.check == "update-ratio" and "too large" in finding.message
    assert finding.details["optimizer"].startswith("SGD")
    assert judge_update_ratios([("a", "weight", 1e-3)]) == []
    [low] = judge_update_ratios([("a", "weight", 1e-8)])
    assert "too small" in low.message


def test_the_shared_model_is_left_untouched() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = make_ctx(model, torch.randn(8, 4), torch.randint(0, 2, (8,)))
    exploding_gradients(ctx)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert ctx.shared["extras"]["gradient_norms"][0]["module"] == "0"
