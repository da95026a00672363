"""Gradient health at initialisation: ``exploding-gradients``, ``vanishing-gradients``, ``dead-relu``,
``update-ratio``.

One forward/backward on ``get_batch()`` (with the file's loss or the contract's default) measures, per
parameter layer in execution order (every weight of 2 or more dimensions; embeddings are left out, their
gradients are sparse), the gradient norm, the weight norm and the mean absolute gradient, and for every
ReLU-family call the units that never activate on the batch. The four checks judge those numbers.

Thresholds (``ctx.options`` overrides):

* exploding: non-finite gradients (error); the first/last layer gradient-norm ratio above 70
  (AutoTrainer); or a layer whose gradient norm exceeds 1000 x its weight norm (``grad_relative_max``).
  The depth ratio alone misses plain deep MLPs: with N(0, 1) weights, activations grow layer after layer
  and back-propagated errors shrink in step, so all layers share one huge gradient scale (measured
  ratio 0.1 - 0.6, relative gradients 1e9 - 1e10 for a 16-layer ReLU MLP; at most 2 for the healthy
  examples).
* vanishing: first/last ratio below 1e-3 with the first layer's norm below 1e-4 (AutoTrainer), or the
  median layer's mean |dW| below 1e-7 (DeepDiagnosis; a 16-layer tanh MLP with std 0.01 measures 1e-19).
* dead-relu: a ReLU whose units are zero on the whole batch for >= 70 % of its units.
* update-ratio: after 3 optimizer steps (the file's ``make_optimizer`` or Adam 3e-4) on a fresh copy,
  the last step's |dW| / |W| per layer outside [1e-5, 1e-1], two orders of magnitude from ~1e-3.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from nnprof.checks import register
from nnprof.context import CheckContext
from nnprof.findings import Finding
from nnprof.loading import call_model, restored, seeded
from nnprof.tracing import OpEvent, tap_ops

EXPLODING_RATIO = 70.0
RELATIVE_MAX = 1e3
VANISHING_RATIO = 1e-3
VANISHING_FIRST = 1e-4
VANISHING_MEAN_ABS = 1e-7
DEAD_FRACTION = 0.7
UPDATE_LOW, UPDATE_HIGH = 1e-5, 1e-1
UPDATE_STEPS = 3
_EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)
_RELU_OPS = frozenset({"relu", "relu6", "hardtanh", "threshold"})


@dataclass
class LayerGrad:
    """Gradient of one weight at initialisation."""

    module: str
    param: str
    grad_norm: float
    weight_norm: float
    mean_abs_grad: float
    finite: bool

    @property
    def relative(self) -> float | None:
        return self.grad_norm / self.weight_norm if self.weight_norm > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "relative": self.relative}


@dataclass
class ActivationStat:
    """ReLU-family outputs of one module on the batch: units that never activate."""

    module: str
    op: str
    units: int = 0
    dead_units: int = 0
    zeros: int = 0
    values: int = 0

    @property
    def dead_fraction(self) -> float:
        return self.dead_units / self.units if self.units else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "op": self.op, "units": self.units, "dead_units": self.dead_units,
                "dead_fraction": self.dead_fraction, "zero_fraction": self.zeros / self.values if self.values else 0.0}


@dataclass
class GradientStats:
    loss: float
    layers: list[LayerGrad]
    activations: list[ActivationStat] = field(default_factory=list)

    @property
    def nonfinite(self) -> list[LayerGrad]:
        return [layer for layer in self.layers if not layer.finite]


# ---------------------------------------------------------------------------------------------------
# Measuring.


def weight_layers(model: nn.Module, order: list[str] | None = None) -> list[tuple[str, str, nn.Parameter]]:
    """``(module path, parameter name, parameter)`` for every trainable weight of >= 2 dims, in ``order``
    (module paths, e.g. forward execution order) then the rest; tied weights once, embeddings left out."""
    modules = dict(model.named_modules())
    names = list(order or []) + [n for n in modules if n not in set(order or [])]
    seen: set[int] = set()
    out = []
    for name in names:
        module = modules.get(name)
        if module is None:
            continue
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in seen or not p.requires_grad or p.dim() < 2:
                continue
            seen.add(id(p))
            if not isinstance(module, _EMBEDDINGS):
                out.append((name, pname, p))
    return out


def _unit_dim(t: torch.Tensor) -> int | None:
    if t.dim() < 2:
        return None
    return t.dim() - 1 if t.dim() == 3 else 1  # (N, C) / (N, C, H, W) channels; (N, T, C) features


def measure_gradients(ctx: CheckContext) -> GradientStats:
    """One forward/backward on the batch; cached in ``ctx.shared["gradients"]``."""
    if "gradients" in ctx.shared:
        return ctx.shared["gradients"]
    inputs, targets = ctx.batch
    acts: dict[str, ActivationStat] = {}

    def on_op(ev: OpEvent) -> None:
        if ev.phase != "forward" or ev.name not in _RELU_OPS or not isinstance(ev.out, torch.Tensor):
            return
        if ev.name == "hardtanh" and float(ev.bound().get("min_val", -1.0)) != 0.0:
            return
        dim = _unit_dim(ev.out)
        if dim is None:
            return
        out = ev.out.detach()
        active = (out > 0).movedim(dim, 0).reshape(out.shape[dim], -1).any(dim=1)
        stat = acts.setdefault(ev.module, ActivationStat(ev.module, ev.name))
        stat.units += int(active.numel())
        stat.dead_units += int((~active).sum())
        stat.zeros += int((out == 0).sum())
        stat.values += int(out.numel())

    model = ctx.model
    with seeded(ctx.seed), restored(model):
        model.train()
        with tap_ops(model, on_op) as stack:
            output = call_model(model, inputs)
        loss = ctx.loss_fn(output, targets)
        loss.backward()
        layers = []
        for module, pname, p in weight_layers(model, stack.order):
            if p.grad is None:
                continue
            g = p.grad.detach().float()
            layers.append(LayerGrad(module, pname, float(g.norm()), float(p.detach().float().norm()),
                                    float(g.abs().mean()), bool(torch.isfinite(g).all())))
    stats = GradientStats(float(loss.detach()), layers, list(acts.values()))
    ctx.shared["gradients"] = stats
    extras = ctx.shared.setdefault("extras", {})
    extras["gradient_norms"] = [layer.to_dict() for layer in layers]
    extras["activations"] = [a.to_dict() for a in stats.activations]
    extras["loss_at_init"] = stats.loss
    return stats


def measure_update_ratios(ctx: CheckContext, steps: int = UPDATE_STEPS) -> tuple[list[tuple[str, str, float]], str]:
    """``(module, param, |dW| / |W|)`` of the last of ``steps`` optimizer steps on a fresh model, and a
    description of the optimizer ("Adam, lr 0.0003, 3 steps")."""
    with seeded(ctx.seed):
        model = ctx.build_model() if ctx.build_model is not None else copy.deepcopy(ctx.model)
    model.train()
    optimizer = ctx.make_optimizer(model) if ctx.make_optimizer is not None else torch.optim.Adam(model.parameters(), lr=3e-4)
    inputs, targets = ctx.batch
    layers = weight_layers(model)
    deadline = time.monotonic() + 0.8 * ctx.budget_s
    before: list[torch.Tensor] = []
    for step in range(max(1, steps)):
        before = [p.detach().clone() for _, _, p in layers]
        optimizer.zero_grad(set_to_none=True)
        loss = ctx.loss_fn(call_model(model, inputs), targets)
        loss.backward()
        optimizer.step()
        if time.monotonic() > deadline and step >= 1:
            break
    ratios = []
    lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
    described = f"{type(optimizer).__name__}, lr {float(lr):g}, {step + 1} steps" if lr is not None else type(optimizer).__name__
    for (module, pname, p), old in zip(layers, before, strict=True):
        if p.grad is None:
            continue
        w = float(old.float().norm())
        if w > 0:
            ratios.append((module, pname, float((p.detach() - old).float().norm()) / w))
    return ratios, described


# ---------------------------------------------------------------------------------------------------
# Judging.


def _name(layer: LayerGrad) -> str:
    return f"{layer.module}.{layer.param}" if layer.module else layer.param


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2g}"


def _opt(ctx: CheckContext, key: str, default: float) -> float:
    return float(ctx.options.get(key, default))


def depth_ratio(stats: GradientStats) -> float | None:
    finite = [layer for layer in stats.layers if layer.finite]
    if len(finite) < 2 or finite[-1].grad_norm == 0:
        return None
    return finite[0].grad_norm / finite[-1].grad_norm


def judge_exploding(stats: GradientStats, *, ratio_max: float = EXPLODING_RATIO, relative_max: float = RELATIVE_MAX) -> list[Finding]:
    check = "exploding-gradients"
    bad = stats.nonfinite
    if bad or not math.isfinite(stats.loss):
        where = bad[0].module if bad else ""
        return [Finding(check, "error", where,
                        f"non-finite gradients at initialisation in {len(bad)} of {len(stats.layers)} layers "
                        f"(loss = {stats.loss:.4g}); the first is {bad[0].module if bad else 'the loss itself'}",
                        {"layers": [f"{b.module}.{b.param}" for b in bad][:20], "loss": stats.loss,
                         "fix": "check the initialisation scale and the inputs for inf/nan; lower the learning rate "
                                "or clip gradients (torch.nn.utils.clip_grad_norm_)"})]
    if len(stats.layers) < 1:
        return []
    ratio = depth_ratio(stats)
    rel = [(layer.relative, layer) for layer in stats.layers if layer.relative is not None]
    worst_rel, worst = max(rel, key=lambda r: r[0]) if rel else (None, None)
    first, last = stats.layers[0], stats.layers[-1]
    details = {"first_layer": first.module, "first_grad_norm": first.grad_norm, "last_layer": last.module,
               "last_grad_norm": last.grad_norm, "depth_ratio": ratio, "max_relative_grad": worst_rel,
               "max_relative_layer": worst.module if worst else None,
               "thresholds": {"depth_ratio": ratio_max, "relative_grad": relative_max},
               "fix": "initialise with nn.init.kaiming_normal_ (ReLU) or xavier (tanh), add normalisation "
                      "layers, and clip gradients (torch.nn.utils.clip_grad_norm_)"}
    if ratio is not None and ratio > ratio_max:
        return [Finding(check, "warning", first.module,
                        f"gradient norms grow {ratio:.3g}x from the last layer ({_name(last)}, {last.grad_norm:.3g}) "
                        f"to the first ({_name(first)}, {first.grad_norm:.3g}) at initialisation (threshold {ratio_max:g})",
                        details)]
    if worst_rel is not None and worst_rel > relative_max:
        return [Finding(check, "warning", worst.module,
                        f"exploding gradients at initialisation: {_name(worst)} has |grad| = {worst.grad_norm:.3g}, "
                        f"{worst_rel:.3g}x its weight norm (threshold {relative_max:g}); first/last layer ratio "
                        f"{_fmt(ratio)}", details)]
    return []


def judge_vanishing(stats: GradientStats, *, ratio_min: float = VANISHING_RATIO, first_max: float = VANISHING_FIRST,
                    mean_abs_min: float = VANISHING_MEAN_ABS) -> list[Finding]:
    check = "vanishing-gradients"
    layers = [layer for layer in stats.layers if layer.finite]
    if not layers or stats.nonfinite:
        return []
    ratio = depth_ratio(stats)
    first, last = layers[0], layers[-1]
    median_abs = statistics.median(layer.mean_abs_grad for layer in layers)
    details = {"first_layer": first.module, "first_grad_norm": first.grad_norm, "last_layer": last.module,
               "last_grad_norm": last.grad_norm, "depth_ratio": ratio, "median_mean_abs_grad": median_abs,
               "thresholds": {"depth_ratio": ratio_min, "first_grad_norm": first_max, "mean_abs_grad": mean_abs_min},
               "fix": "initialise with nn.init.kaiming_normal_ (ReLU) or xavier (tanh) instead of a small constant "
                      "scale, add residual connections or normalisation layers, prefer ReLU/GELU to saturating tanh/sigmoid"}
    if ratio is not None and ratio < ratio_min and first.grad_norm < first_max:
        return [Finding(check, "warning", first.module,
                        f"gradients vanish towards the input at initialisation: {_name(first)} gets |grad| = "
                        f"{first.grad_norm:.3g}, {ratio:.3g}x the last layer's ({_name(last)}, {last.grad_norm:.3g})",
                        details)]
    if median_abs < mean_abs_min:
        return [Finding(check, "warning", first.module,
                        f"vanishing gradients at initialisation: the median layer's mean |dW| is {median_abs:.3g} "
                        f"(threshold {mean_abs_min:g}); the first layer {_name(first)} gets |grad| = {first.grad_norm:.3g}",
                        details)]
    return []


def judge_dead_relu(stats: GradientStats, *, fraction: float = DEAD_FRACTION) -> list[Finding]:
    out = []
    for act in stats.activations:
        if act.units and act.dead_fraction >= fraction:
            out.append(Finding("dead-relu", "warning", act.module,
                               f"{act.module or 'the root module'}: {act.dead_units} of {act.units} {act.op} units "
                               f"({act.dead_fraction:.0%}) never activate on the batch",
                               {"dead_units": act.dead_units, "units": act.units, "dead_fraction": act.dead_fraction,
                                "threshold": fraction,
                                "fix": "check the preceding layer's init and bias (Kaiming init, zero or small positive "
                                       "bias), add normalisation before the ReLU, or use LeakyReLU/GELU"}))
    return out


def judge_update_ratios(ratios: list[tuple[str, str, float]], *, low: float = UPDATE_LOW, high: float = UPDATE_HIGH,
                        optimizer: str = "") -> list[Finding]:
    out = []
    for label, bad, fix in (
        ("too large", [r for r in ratios if r[2] > high], "lower the learning rate (or warm it up), or check the init scale"),
        ("too small", [r for r in ratios if r[2] < low], "raise the learning rate, or check that these weights are updated"),
    ):
        if not bad:
            continue
        worst = max(bad, key=lambda r: r[2]) if label == "too large" else min(bad, key=lambda r: r[2])
        message = (f"update/weight ratio {label}: {len(bad)} of {len(ratios)} layers outside [{low:g}, {high:g}] "
                   f"(healthy ~1e-3); worst {worst[0]}.{worst[1]} at {worst[2]:.3g}"
                   + (f" ({optimizer})" if optimizer else ""))
        details = {"layers": {f"{m}.{p}": r for m, p, r in sorted(bad, key=lambda r: -abs(math.log10(r[2] + 1e-30) + 3))[:10]},
                   "count": len(bad), "of": len(ratios), "range": [low, high], "optimizer": optimizer, "fix": fix}
        out.append(Finding("update-ratio", "warning", worst[0], message, details))
    return out


# ---------------------------------------------------------------------------------------------------
# The registered checks.


def _real(ctx: CheckContext) -> None:
    if ctx.device.type == "meta":
        from nnprof.runner import CheckSkipped

        raise CheckSkipped("needs real values, not the meta device", "meta device")


@register("exploding-gradients", default=True, budget_s=30.0, needs_batch=True)
def exploding_gradients(ctx: CheckContext) -> list[Finding]:
    _real(ctx)
    return judge_exploding(measure_gradients(ctx), ratio_max=_opt(ctx, "grad_ratio_max", EXPLODING_RATIO),
                           relative_max=_opt(ctx, "grad_relative_max", RELATIVE_MAX))


@register("vanishing-gradients", default=True, budget_s=30.0, needs_batch=True)
def vanishing_gradients(ctx: CheckContext) -> list[Finding]:
    _real(ctx)
    return judge_vanishing(measure_gradients(ctx), ratio_min=_opt(ctx, "grad_ratio_min", VANISHING_RATIO),
                           first_max=_opt(ctx, "grad_first_max", VANISHING_FIRST),
                           mean_abs_min=_opt(ctx, "grad_mean_abs_min", VANISHING_MEAN_ABS))


@register("dead-relu", default=True, budget_s=30.0, needs_batch=True)
def dead_relu(ctx: CheckContext) -> list[Finding]:
    _real(ctx)
    return judge_dead_relu(measure_gradients(ctx), fraction=_opt(ctx, "dead_relu_fraction", DEAD_FRACTION))


@register("update-ratio", default=True, budget_s=60.0, needs_batch=True)
def update_ratio(ctx: CheckContext) -> list[Finding]:
    _real(ctx)
    ratios, described = measure_update_ratios(ctx, steps=int(ctx.options.get("update_steps", UPDATE_STEPS)))
    ctx.shared.setdefault("extras", {})["update_ratios"] = [{"module": m, "param": p, "ratio": r} for m, p, r in ratios]
    return judge_update_ratios(ratios, low=_opt(ctx, "update_ratio_low", UPDATE_LOW),
                               high=_opt(ctx, "update_ratio_high", UPDATE_HIGH), optimizer=described)
