"""``loss-at-init``: the loss before any training step against its chance level.

A freshly initialised classifier should be maximally unsure: cross-entropy near ln C for C classes,
binary cross-entropy near ln 2 per label, and a regression's MSE near the targets' variance. A loss
far above that (a "hot" output bias, or logits scaled up) wastes the first iterations undoing the
init, and the loss curve's "hockey stick" hides real progress (Karpathy, *A Recipe for Training Neural
Networks*: "verify loss @ init", "init well").
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nnprof.checks import register
from nnprof.checks.sanity_common import (
    LossKind,
    call_model,
    loss_function,
    preserved,
    recognise_loss,
    round_sig,
    seeded,
    skipped,
)
from nnprof.context import CheckContext
from nnprof.findings import Finding
from nnprof.loading import primary_tensor

CHECK = "loss-at-init"
#: the loss is "far off" when it exceeds the chance level by this factor and by ``ABS_MARGIN``
REL_MARGIN = 1.5
ABS_MARGIN = 1.0
#: an MSE is "far off" above this multiple of the targets' variance
MSE_FACTOR = 4.0


def _last_layer(model: nn.Module, inputs: Any) -> str:
    """The path of the last module with a weight that ran in ``forward`` (the output layer)."""
    order: list[str] = []
    hooks = []
    for name, module in model.named_modules():
        if isinstance(getattr(module, "weight", None), torch.Tensor) and not list(module.children()):
            hooks.append(module.register_forward_hook(lambda m, i, o, n=name: order.append(n)))
    try:
        with torch.no_grad():
            call_model(model, inputs)
    finally:
        for h in hooks:
            h.remove()
    return order[-1] if order else ""


def _prior_entropy(kind: LossKind, targets: torch.Tensor) -> float | None:
    """Entropy of the batch's label distribution: the best loss a constant prediction reaches."""
    if kind.name == "cross-entropy" and kind.classes:
        t = targets[targets != -100].long().flatten()
        if t.numel() == 0 or int(t.min()) < 0 or int(t.max()) >= kind.classes:
            return None
        p = torch.bincount(t, minlength=kind.classes).float() / t.numel()
        p = p[p > 0]
        return float(-(p * p.log()).sum())
    if kind.name == "bce":
        p = targets.float().mean(dim=0).clamp(1e-6, 1 - 1e-6)
        return float((-(p * p.log()) - (1 - p) * (1 - p).log()).mean())
    return None


def _expected(kind: LossKind, targets: torch.Tensor) -> float:
    if kind.name == "cross-entropy":
        return math.log(kind.classes or 1)
    if kind.name == "bce":
        return math.log(2.0)
    return float(targets.float().var(unbiased=False))


def _too_high(kind: LossKind, loss: float, expected: float) -> bool:
    if not math.isfinite(loss):
        return True
    if kind.name == "mse":
        return loss > MSE_FACTOR * expected + 1e-8
    return loss > max(REL_MARGIN * expected, expected + ABS_MARGIN)


def _logit_spread(kind: LossKind, out: torch.Tensor) -> dict[str, float]:
    """How much of the output's size is a constant offset per class/unit (a bias) vs per-sample."""
    o = out.detach().float()
    if kind.name == "cross-entropy" and kind.class_dim == 1 and o.dim() > 2:
        o = o.movedim(1, -1)
    o = o.reshape(-1, o.shape[-1]) if o.dim() > 1 else o.reshape(-1, 1)
    means = o.mean(dim=0)
    offset = float(means.std(unbiased=False)) if kind.name == "cross-entropy" else float(means.abs().mean())
    return {"offset": offset, "spread": float(o.std(dim=0, unbiased=False).mean()), "mean": float(means.mean())}


def _advice(kind: LossKind, layer: str, spread: dict[str, float], targets: torch.Tensor) -> str:
    where = f"`{layer}`" if layer else "the last layer"
    if kind.name == "mse":
        prior = f"the targets' mean ({round_sig(float(targets.float().mean()), 3)})"
    elif kind.name == "bce":
        prior = "zero (balanced labels) or the log-odds log(p/(1-p)) of each label's frequency p"
    else:
        prior = "zero (balanced classes) or the log of each class's frequency (imbalanced)"
    fix = f"initialise the bias of {where} to the data's prior: {prior}"
    if spread["spread"] > spread["offset"]:
        return f"the outputs are too large at init (std {round_sig(spread['spread'], 3)}): scale down the weights of {where}, and {fix}"
    return f"the outputs carry a constant offset at init (a hot bias, {round_sig(spread['offset'], 3)}): {fix}"


def _measure(ctx: CheckContext) -> tuple[torch.Tensor, float, str]:
    inputs, targets = ctx.batch
    with preserved(ctx.model) as model, seeded(ctx.seed), torch.no_grad():
        model.train()
        output = call_model(model, inputs)
        loss = float(loss_function(ctx)(output, targets))
        layer = _last_layer(model, inputs)
    out = primary_tensor(output)
    return out, loss, layer


@register(CHECK, default=True, budget_s=10)
def loss_at_init(ctx: CheckContext) -> list[Finding]:
    """Compare the initial loss on the batch with ln C / ln 2 / Var(targets)."""
    if ctx.batch is None:
        return [skipped(CHECK, "no batch: the model file defines no get_batch()")]
    if ctx.device.type == "meta":
        return [skipped(CHECK, "meta device: no values to compute a loss from")]
    out, loss, layer = _measure(ctx)
    targets = ctx.batch[1]
    if not math.isfinite(loss):
        return [Finding(CHECK, "error", "", f"the loss is {loss} at initialisation, before any step: look for a "
                        "log/sqrt/division of something that reaches zero, or inf/nan in the inputs", {"loss": str(loss)})]
    kind = recognise_loss(ctx, out, targets, loss) if out is not None else None
    if kind is None:
        return [Finding(CHECK, "info", "", f"initial loss {round_sig(loss)}; the loss is not cross-entropy, BCE "
                        "or MSE, so its chance level is unknown", {"loss": loss})]
    expected = _expected(kind, targets)
    details: dict[str, Any] = {"loss": round_sig(loss), "expected": round_sig(expected), "kind": kind.name,
                               "ratio": round_sig(loss / expected) if expected > 0 else None}
    if kind.classes:
        details["classes"] = kind.classes
    prior = _prior_entropy(kind, targets)
    if prior is not None:
        details["prior_entropy"] = round_sig(prior)
    ctx.shared[CHECK] = dict(details)
    if kind.name == "mse" and expected <= 0:
        return [skipped(CHECK, "the targets are constant: no variance to compare the loss with", **details)]
    if not _too_high(kind, loss, expected):
        return []
    spread = _logit_spread(kind, out)
    details.update({k: round_sig(v) for k, v in spread.items()}, last_layer=layer)
    chance = {"cross-entropy": f"ln {kind.classes} = {expected:.3g}", "bce": "ln 2 = 0.693 per label",
              "mse": f"the targets' variance {expected:.3g}"}[kind.name]
    message = (f"the loss at init is {loss:.4g}, far above the chance level {chance}; "
               f"{_advice(kind, layer, spread, targets)}")
    return [Finding(CHECK, "warning", layer, message, details)]
