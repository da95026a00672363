import pytest
import torch

from .conftest import DEFAULT_SANITY, problems, run_check
from .tiny import Constant, IgnoresInput, TinyLM, cls_batch, lm_loss, make_ctx, mlp, token_batch


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_model_that_cannot_fit_gets_a_warning_with_the_curve_ends():
    ctx = make_ctx(Constant, cls_batch())
    [f] = run_check("overfit-batch", ctx)
    assert f.severity == "warning" and "cannot overfit one batch" in f.message
    d = f.details
    assert d["stopped"] == "steps" and d["steps"] == 300
    assert d["initial_loss"] == pytest.approx(2.3026, abs=1e-3) and d["final_loss"] > 2.0
    assert f"{d['initial_loss']} -> {d['final_loss']}" in f.message
    assert len(ctx.shared["overfit-batch"]["loss"]) == 300 and not ctx.shared["overfit-batch"]["passed"]


def test_healthy_model_overfits_quickly_and_the_shared_model_is_untouched():
    ctx = make_ctx(mlp, cls_batch())
    before = _state(ctx.model)
    assert run_check("overfit-batch", ctx) == []
    curve = ctx.shared["overfit-batch"]
    assert curve["passed"] and curve["stopped"] == "converged" and len(curve["loss"]) < 150
    assert curve["accuracy"][-1] == 1.0
    assert all(torch.equal(before[k], v) for k, v in _state(ctx.model).items())


def test_model_ignoring_its_input_is_caught():
    for build in (IgnoresInput, Constant):
        [f] = run_check("input-independence", make_ctx(build, cls_batch()))
        assert f.severity == "warning" and "zeroed inputs" in f.message
        assert f.details["zeroed_loss"] == pytest.approx(f.details["real_loss"], rel=0.05)


def test_input_independence_reuses_the_overfit_run():
    ctx = make_ctx(mlp, cls_batch())
    assert run_check("input-independence", ctx) == []
    assert "overfit-batch" in ctx.shared
    curves = ctx.shared["input-independence"]
    assert curves["steps"] <= len(ctx.shared["overfit-batch"]["loss"])
    assert curves["real"][-1] < curves["zeroed"][-1]


def test_token_lm_uses_its_input():
    ctx = make_ctx(TinyLM, token_batch(), loss_fn=lm_loss)
    assert problems(run_check("overfit-batch", ctx) + run_check("input-independence", ctx)) == []


def test_budget_exhausted_says_skipped_budget():
    ctx = make_ctx(Constant, cls_batch(), budget_s=0.05)
    [f] = run_check("overfit-batch", ctx)
    assert f.severity == "info" and f.message.startswith("skipped (budget)")
    [g] = run_check("lr-range", make_ctx(mlp, cls_batch(), budget_s=0.0))
    assert g.severity == "info" and g.message.startswith("skipped (budget)")


def test_lr_range_suggests_a_rate_and_records_the_curve():
    ctx = make_ctx(mlp, cls_batch())
    [f] = run_check("lr-range", ctx)
    assert f.severity == "info" and "suggested lr" in f.message
    d = f.details
    assert 1e-4 < d["suggested_lr"] < 1.0 and d["configured_lr"] == 3e-4
    curve = ctx.shared["lr-range"]
    assert len(curve["lr"]) == len(curve["loss"]) == len(curve["smoothed"]) >= 50
    assert curve["lr"][0] == pytest.approx(1e-7) and curve["lr"] == sorted(curve["lr"])


def test_lr_range_warns_when_the_configured_rate_diverges():
    # least squares that cannot be fitted exactly: plain SGD diverges past lr ~ 2 / lambda_max
    x, y = torch.randn(64, 20), torch.randn(64, 1)
    ctx = make_ctx(lambda: torch.nn.Linear(20, 1), (x, y), make_optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=5.0))
    [f] = run_check("lr-range", ctx)
    assert f.severity == "warning" and "diverges" in f.message
    assert f.details["diverged_lr"] <= 5.0 and f.details["configured_lr"] == 5.0
    assert f.details["suggested_lr"] < f.details["diverged_lr"]


def test_lr_range_draws_fresh_batches_when_given_get_batch():
    calls = []

    def get_batch():
        calls.append(1)
        return cls_batch(len(calls))

    ctx = make_ctx(mlp, cls_batch(), get_batch=get_batch)
    [f] = run_check("lr-range", ctx)
    assert len(calls) >= f.details["steps"] - 1 >= 50


def test_lr_range_is_opt_in():
    from nnprof.checks import REGISTRY

    assert REGISTRY["lr-range"].default is False
    assert all(REGISTRY[c].default for c in DEFAULT_SANITY)


@pytest.mark.parametrize("seed", range(5))
def test_healthy_mlp_gets_no_warning_from_any_sanity_check(seed):
    ctx = make_ctx(mlp, cls_batch(seed), seed=seed)
    before = _state(ctx.model)
    found = [f for c in [*DEFAULT_SANITY, "lr-range"] for f in run_check(c, ctx)]
    assert problems(found) == []
    assert all(torch.equal(before[k], v) for k, v in _state(ctx.model).items())


def test_runs_are_reproducible_from_the_seed():
    a, b = make_ctx(Constant, cls_batch()), make_ctx(Constant, cls_batch())
    da, db = (run_check("overfit-batch", c)[0].details for c in (a, b))
    assert {**da, "seconds": 0} == {**db, "seconds": 0}
    assert a.shared["overfit-batch"]["loss"] == b.shared["overfit-batch"]["loss"]
