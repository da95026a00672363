"""The recipe's checks that train a fresh copy of the model on the one batch of ``get_batch()``.

- ``overfit-batch``: a model that cannot memorise one small batch (Adam, a few hundred steps) has a
  bug in its wiring, its loss, or its targets; "overfit one batch" is the recipe's first sanity step.
- ``input-independence``: train on zeroed inputs and on the real ones; a model that does as well on
  zeros ignores its input (the recipe's "input-independent baseline").
- ``lr-range``: the learning-rate range test (Smith 2017, as in Lightning and fastai): an exponential
  sweep from 1e-7 to 10 over ~100 steps that stops once the loss exceeds 4x its best, and a suggested
  rate: the steepest descent of the smoothed curve (Lightning's suggestion). fastai's "valley" is not
  used: on one repeated batch the curve is noise-free and falls by tiny amounts from the first step,
  so its longest descending stretch starts at 1e-7 and the valley lands far too low. On one repeated
  batch the sweep is also a training run on that batch: a model that memorises it before the rate
  gets high may never show the divergence. When the runner passes ``ctx.options["get_batch"]`` (a
  callable returning a new ``(inputs, targets)`` on the device), every step draws a fresh batch, as
  the LR finders of Lightning and fastai do.

Every run starts from ``ctx.build_model()`` (or a deep copy of ``ctx.model``) under ``ctx.seed``, with
dropout off (we test capacity and wiring, not regularisation); ``ctx.model`` is never trained.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from nnprof.checks import register
from nnprof.checks.sanity_common import (
    Budget,
    LossKind,
    TrainRun,
    budget_of,
    call_model,
    fresh_model,
    loss_function,
    recognise_loss,
    round_sig,
    seeded,
    skipped,
    train_on_batch,
    zeroed,
)
from nnprof.context import CheckContext
from nnprof.findings import Finding
from nnprof.loading import primary_tensor
from nnprof.progress import progress_bar

OVERFIT = "overfit-batch"
INPUT = "input-independence"
LR_RANGE = "lr-range"


def _guard(check: str, ctx: CheckContext) -> list[Finding] | None:
    if ctx.batch is None:
        return [skipped(check, "no batch: the model file defines no get_batch()")]
    if ctx.device.type == "meta":
        return [skipped(check, "meta device: nothing can be trained")]
    return None


def _kind(ctx: CheckContext, model: torch.nn.Module, inputs: Any, targets: Any) -> LossKind | None:
    with torch.no_grad():
        output = call_model(model, inputs)
        value = float(loss_function(ctx)(output, targets))
    out = primary_tensor(output)
    return recognise_loss(ctx, out, targets, value) if out is not None else None


def _fitted(losses: list[float], acc: float | None) -> bool:
    """Near zero loss: every prediction right, or the loss down to 1 % of where it started."""
    if acc is not None and acc >= 1.0:
        return True
    return losses[-1] <= max(0.01 * losses[0], 1e-4)


def _train(ctx: CheckContext, inputs: Any, steps: int, label: str, **kw: Any) -> tuple[TrainRun, LossKind | None]:
    """Train a fresh, seeded model on ``(inputs, targets)`` with a progress bar."""
    targets = ctx.batch[1]
    with seeded(ctx.seed):
        model = fresh_model(ctx)
        kind = _kind(ctx, model, inputs, targets)
        with progress_bar(label, total=steps, ctx=ctx) as advance:
            run = train_on_batch(model, inputs, targets, loss_function(ctx), steps=steps, kind=kind,
                                 advance=advance, **kw)
    return run, kind


# --------------------------------------------------------------------------- overfit-batch


def _overfit_details(run: TrainRun, lr: float) -> dict[str, Any]:
    acc = run.accuracies[-1] if run.accuracies else None
    return {"initial_loss": round_sig(run.losses[0]), "final_loss": round_sig(run.losses[-1]),
            "final_accuracy": None if acc is None else round_sig(acc), "steps": len(run.losses),
            "lr": lr, "seconds": round_sig(run.seconds, 3), "stopped": run.stopped}


def _overfit_run(ctx: CheckContext, budget: Budget) -> TrainRun:
    """The overfit run, kept in ``ctx.shared['overfit-batch']`` (curve for the HTML report, and reused
    by input-independence: same seed, model, optimizer and batch)."""
    cached = ctx.shared.get(OVERFIT)
    if cached and "loss" in cached:
        return TrainRun(list(cached["loss"]), list(cached["accuracy"] or []), cached["stopped"], cached["seconds"])
    lr = float(ctx.options.get("overfit_lr", 1e-3))
    steps = int(ctx.options.get("overfit_steps", 300))
    run, _ = _train(ctx, ctx.batch[0], steps, OVERFIT, budget=budget, lr=lr, done=_fitted)
    has_acc = any(a is not None for a in run.accuracies)
    ctx.shared[OVERFIT] = {"steps": list(range(len(run.losses))), "loss": [round_sig(v, 5) for v in run.losses],
                           "accuracy": run.accuracies if has_acc else None, "passed": run.stopped == "converged",
                           "stopped": run.stopped, "lr": lr, "seconds": round_sig(run.seconds, 3)}
    return run


@register(OVERFIT, default=True, budget_s=30)
def overfit_batch(ctx: CheckContext) -> list[Finding]:
    """Warn when Adam cannot drive the loss on one batch near zero (100 % accuracy)."""
    if (guard := _guard(OVERFIT, ctx)) is not None:
        return guard
    run = _overfit_run(ctx, budget_of(ctx))
    lr = ctx.shared[OVERFIT]["lr"]
    if not run.losses:
        return [skipped(OVERFIT, "budget", "not even one step fitted in the time budget")]
    if run.stopped == "converged":
        return []
    details = _overfit_details(run, lr)
    start, end, acc = details["initial_loss"], details["final_loss"], details["final_accuracy"]
    acc_text = f", accuracy {acc:.0%}" if acc is not None else ""
    if run.stopped == "budget":
        note = (f"stopped after {len(run.losses)} steps in {details['seconds']} s with the loss at {start} -> "
                f"{end}{acc_text}; raise the budget for a verdict")
        return [skipped(OVERFIT, "budget", note, **details)]
    if run.stopped == "non-finite":
        message = (f"training on one batch diverged: the loss went {start} -> {end} (non-finite) within "
                   f"{len(run.losses)} steps of Adam at lr {lr:g}; look for a log/sqrt/division of "
                   "something that reaches zero, or an output layer that saturates")
        return [Finding(OVERFIT, "warning", "", message, details)]
    message = (f"the model cannot overfit one batch: loss {start} -> {end}{acc_text} after {len(run.losses)} "
               f"Adam steps at lr {lr:g}; a model that cannot memorise a few samples has a bug: check "
               "that the output depends on the input, that the targets match the outputs, that the loss is "
               "the right one, and that the parameters require grad")
    return [Finding(OVERFIT, "warning", "", message, details)]


# --------------------------------------------------------------------------- input-independence


def _beats(real: list[float], first: int) -> Any:
    """``done`` for the zeroed-input run: the real run's loss is clearly lower at the same step."""

    def done(losses: list[float], acc: float | None) -> bool:
        k = len(losses)
        return k >= first and real[k - 1] < 0.9 * losses[-1]

    return done


@register(INPUT, default=True, budget_s=30)
def input_independence(ctx: CheckContext) -> list[Finding]:
    """Warn when training on zeroed inputs reaches the loss of training on the real inputs.

    The real-input run is overfit-batch's (shared); the zeroed-input run, from the same seed, stops as
    soon as the real run is clearly ahead (loss < 0.9x at the same step, from step 50 on), else runs
    as long as the real one did. The input matters when the real run is clearly ahead, or when it
    fitted the batch (100 % accuracy / loss near zero) and the zeroed run did not in as many steps."""
    if (guard := _guard(INPUT, ctx)) is not None:
        return guard
    budget = budget_of(ctx)
    real = _overfit_run(ctx, budget).losses
    if len(real) < 2:
        return [skipped(INPUT, "budget", "the real-input run did not get past its first step")]
    first = min(int(ctx.options.get("input_steps", 50)), len(real))
    lr = ctx.shared[OVERFIT]["lr"]
    zero, _ = _train(ctx, zeroed(ctx.batch[0]), len(real), INPUT, budget=budget, lr=lr, done=_beats(real, first))
    k = len(zero.losses)
    ctx.shared[INPUT] = {"real": [round_sig(v, 5) for v in real[:k]], "zeroed": [round_sig(v, 5) for v in zero.losses],
                         "steps": k}
    if zero.stopped == "converged":  # the real run was clearly ahead
        return []
    if k == 0 or zero.stopped == "budget":
        return [skipped(INPUT, "budget", f"the zeroed-input run stopped after {k} of {len(real)} steps")]
    if zero.stopped == "non-finite":
        return [skipped(INPUT, "the zeroed-input run diverged", f"non-finite loss after {k} steps")]
    if ctx.shared[OVERFIT]["stopped"] == "converged" and not _fitted(zero.losses, zero.accuracies[-1]):
        return []  # the real inputs fitted the batch in k steps, zeros did not
    details = {"real_loss": round_sig(real[k - 1]), "zeroed_loss": round_sig(zero.losses[-1]), "steps": k,
               "initial_loss": round_sig(real[0])}
    if ctx.shared[OVERFIT]["stopped"] == "budget":
        return [skipped(INPUT, "budget", f"no difference between real and zeroed inputs within {k} steps", **details)]
    message = (f"the model does as well on zeroed inputs as on the real ones (loss {details['zeroed_loss']} vs "
               f"{details['real_loss']} after {k} steps): it ignores its input, or cannot learn at all; check "
               "that the input reaches the output (a detach, a constant, a wrong argument) and see overfit-batch")
    return [Finding(INPUT, "warning", "", message, details)]


# --------------------------------------------------------------------------- lr-range


def smooth(losses: list[float], beta: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction, as Lightning's and fastai's LR finders (which
    use beta 0.98 on a new batch per step; one repeated batch is far less noisy, 0.9 lags less)."""
    avg, out = 0.0, []
    for i, value in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * value
        out.append(avg / (1 - beta**i))
    return out


def steepest(lrs: list[float], losses: list[float], skip_begin: int = 10, skip_end: int = 1) -> int | None:
    """Index of the steepest descent of the loss against log10(lr) (Lightning's suggestion)."""
    lo, hi = skip_begin, len(losses) - skip_end
    if hi - lo < 3:
        return None
    logs = [math.log10(x) for x in lrs]
    slopes = [(losses[i + 1] - losses[i - 1]) / (logs[i + 1] - logs[i - 1]) for i in range(max(lo, 1), hi - 1)]
    return max(lo, 1) + min(range(len(slopes)), key=slopes.__getitem__)


def _sweep(ctx: CheckContext, steps: int, lr_min: float, lr_max: float) -> tuple[list[float], TrainRun, float]:
    def schedule(step: int) -> float:
        return lr_min * (lr_max / lr_min) ** (step / max(1, steps - 1))

    def diverged(losses: list[float]) -> bool:
        smoothed = smooth(losses)
        return len(smoothed) > 5 and smoothed[-1] > 4 * min(smoothed)

    with seeded(ctx.seed):
        model = fresh_model(ctx)
        opt = ctx.make_optimizer(model) if ctx.make_optimizer else torch.optim.Adam(model.parameters(), lr=3e-4)
        user_lr = float(opt.param_groups[0]["lr"])
        with progress_bar(LR_RANGE, total=steps, ctx=ctx) as advance:
            run = train_on_batch(model, ctx.batch[0], ctx.batch[1], loss_function(ctx), steps=steps,
                                 budget=budget_of(ctx), lr=schedule, optimizer=opt, advance=advance, stop_if=diverged,
                                 next_batch=ctx.options.get("get_batch"))
    return [schedule(i) for i in range(len(run.losses))], run, user_lr


@register(LR_RANGE, default=False, budget_s=60)
def lr_range(ctx: CheckContext) -> list[Finding]:
    """Sweep the learning rate exponentially and suggest one; warn when the configured one diverges."""
    if (guard := _guard(LR_RANGE, ctx)) is not None:
        return guard
    steps = int(ctx.options.get("lr_range_steps", 100))
    lrs, run, user_lr = _sweep(ctx, steps, float(ctx.options.get("lr_min", 1e-7)), float(ctx.options.get("lr_max", 10.0)))
    finite = [v for v in run.losses if math.isfinite(v)]
    if len(finite) < 10:
        return [skipped(LR_RANGE, "budget", f"only {len(run.losses)} steps of the sweep ran")]
    diverged_lr = lrs[-1] if run.stopped in ("diverged", "non-finite") else None
    lrs, smoothed = lrs[: len(finite)], smooth(finite)
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    steep = steepest(lrs, smoothed)
    best = steep if steep is not None else lowest
    details = {"suggested_lr": round_sig(lrs[best], 3), "min_loss_lr": round_sig(lrs[lowest], 3),
               "diverged_lr": round_sig(diverged_lr, 3) if diverged_lr else None, "configured_lr": user_lr,
               "min_loss": round_sig(min(smoothed)), "steps": len(finite), "stopped": run.stopped}
    ctx.shared[LR_RANGE] = {**details, "lr": [round_sig(x, 4) for x in lrs], "loss": [round_sig(v, 5) for v in finite],
                            "smoothed": [round_sig(v, 5) for v in smoothed]}
    curve = {"lr": ctx.shared[LR_RANGE]["lr"], "loss": ctx.shared[LR_RANGE]["smoothed"]}
    how = "steepest descent of the smoothed loss" if steep is not None else "lowest smoothed loss"
    text = (f"learning-rate range test: suggested lr {details['suggested_lr']:g} ({how}; lowest loss "
            f"at lr {details['min_loss_lr']:g}"
            + (f"; the loss diverges from {details['diverged_lr']:g}" if diverged_lr else "") + ")")
    if diverged_lr is not None and user_lr >= diverged_lr:
        return [Finding(LR_RANGE, "warning", "", f"{text}; the configured lr {user_lr:g} is past the point where "
                        f"the loss diverges: use about {details['suggested_lr']:g}", {**details, "curve": curve})]
    if run.stopped == "budget":
        text = f"{text}; skipped (budget) after {len(finite)} of {steps} steps, the suggestion is provisional"
    return [Finding(LR_RANGE, "info", "", f"{text}; configured lr {user_lr:g}", {**details, "curve": curve})]
