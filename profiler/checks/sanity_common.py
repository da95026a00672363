"""Helpers shared by the recipe's sanity checks (``sanity_*.py``); registers no check itself.

Everything here is small and generic: calling a model on what ``forward`` takes, finding the tensor
that matters in what it returns, seeding, time budgets, recognising the loss (cross-entropy, BCE,
MSE) to know its chance level, and a short training loop on one batch.

Keys the sanity checks put in ``ctx.shared`` (read by the HTML renderer through ``report.extras``):

- ``"overfit-batch"``: ``{"steps": [...], "loss": [...], "accuracy": [... or None], "passed": bool,
  "stopped": "converged" | "steps" | "budget" | "non-finite", "lr": float}``
- ``"input-independence"``: ``{"real": [...], "zeroed": [...], "steps": int}`` (loss curves)
- ``"lr-range"``: ``{"lr": [...], "loss": [...], "smoothed": [...], "suggested_lr": float,
  "min_loss_lr": float, "diverged_lr": float | None, "configured_lr": float, ...}``
- ``"loss-at-init"``: ``{"loss": float, "expected": float, "kind": "cross-entropy" | ...}``
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nnprof.context import CheckContext
from nnprof.findings import Finding
from nnprof.loading import call_model, default_loss, primary_tensor

__all__ = ["call_model", "default_loss"]  # re-exported for the sanity checks

DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)
BATCHNORM_TYPES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm,)


# --------------------------------------------------------------------------- calling the model


def map_tensors(value: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """Apply ``fn`` to every tensor in a tensor / tuple / list / dict structure."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_tensors(v, fn) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(map_tensors(v, fn) for v in value)
    return value


def iter_tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_tensors(v)
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from iter_tensors(v)


def batch_size(inputs: Any) -> int | None:
    first = next(iter(iter_tensors(inputs)), None)
    if first is None or first.dim() == 0:
        return None
    return int(first.shape[0])


def batch_inputs(ctx: CheckContext) -> Any:
    """The inputs of ``get_batch()``, or ``example_input`` when the file has no batch."""
    return ctx.batch[0] if ctx.batch is not None else ctx.example_input


# --------------------------------------------------------------------------- findings, seeds, time


def skipped(check: str, why: str, note: str = "", **details: Any) -> Finding:
    """The info finding of a check that could not give a verdict: "skipped (budget): <note>"."""
    return Finding(check, "info", "", f"skipped ({why})" + (f": {note}" if note else ""), details)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed python and torch for the block, and give the caller's RNG state back afterwards."""
    py_state = random.getstate()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)


@dataclass
class Budget:
    """A wall-clock allowance: ``spent()`` seconds so far, ``allows(next_s)`` another step of that cost."""

    seconds: float
    start: float = field(default_factory=time.perf_counter)

    def spent(self) -> float:
        return time.perf_counter() - self.start

    def allows(self, next_s: float = 0.0) -> bool:
        return self.spent() + next_s <= self.seconds


#: share of the budget a check plans to use: the runner gives up on a check at 100 %, so a check
#: stops its loops earlier and still has time to report what it measured
BUDGET_SHARE = 0.8


def budget_of(ctx: CheckContext) -> Budget:
    """The check's time budget: ``options['budget_s']`` when given, else ``ctx.budget_s`` (the
    registered budget, which the runner sets per check), of which loops plan for ``BUDGET_SHARE``."""
    return Budget(BUDGET_SHARE * float(ctx.options.get("budget_s", ctx.budget_s)))


# --------------------------------------------------------------------------- model copies


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Use ``model`` in place and put back its train/eval flags, ``requires_grad`` flags and buffers."""
    modes = {m: m.training for m in model.modules()}
    flags = {p: p.requires_grad for p in model.parameters()}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        yield model
    finally:
        for module, mode in modes.items():
            module.training = mode
        for param, flag in flags.items():
            param.requires_grad_(flag)
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers and b.shape == buffers[name].shape:
                    b.copy_(buffers[name])


def fresh_model(ctx: CheckContext) -> nn.Module:
    """An untrained model to train: ``ctx.build_model()`` (seeded), else a deep copy of ``ctx.model``."""
    if ctx.build_model is None:
        model = copy.deepcopy(ctx.model)
    else:
        torch.manual_seed(ctx.seed)
        model = ctx.build_model()
        ref = next(iter(ctx.model.parameters()), None)
        model = model.to(device=ctx.device, dtype=ref.dtype if ref is not None else None)
    model.train()
    return model


def loss_function(ctx: CheckContext) -> Callable[[Any, Any], torch.Tensor]:
    """The user's loss, or the contract's default (cross-entropy for class ids, MSE for floats)."""
    return ctx.loss_fn if ctx.loss_fn is not None else default_loss


# --------------------------------------------------------------------------- what the loss is


def class_dim(out: torch.Tensor, targets: torch.Tensor) -> int | None:
    """The class dimension of logits ``out`` for integer ``targets``: -1 (last), 1, or None."""
    if out.dim() == targets.dim() + 1:
        if tuple(out.shape[:-1]) == tuple(targets.shape):
            return -1
        if out.shape[0] == targets.shape[0] and tuple(out.shape[2:]) == tuple(targets.shape[1:]):
            return 1
    return None


@dataclass(frozen=True)
class LossKind:
    """A recognised loss: its name, the class dimension (cross-entropy) and the number of classes."""

    name: str  # "cross-entropy" | "bce" | "mse"
    class_dim: int | None = None
    classes: int | None = None


def _ce(out: torch.Tensor, targets: torch.Tensor, dim: int) -> torch.Tensor:
    if dim == -1:
        return F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), targets.reshape(-1))
    return F.cross_entropy(out.float(), targets)


def candidate_losses(out: torch.Tensor, targets: Any) -> dict[LossKind, torch.Tensor]:
    """The standard losses that fit ``out`` and ``targets``, each computed our own way."""
    found: dict[LossKind, torch.Tensor] = {}
    if not isinstance(targets, torch.Tensor):
        return found
    if not targets.is_floating_point() and not targets.is_complex():
        dim = class_dim(out, targets)
        if dim is not None:
            classes = int(out.shape[dim])
            found[LossKind("cross-entropy", dim, classes)] = _ce(out, targets.long(), dim)
        return found
    if targets.shape == out.shape:
        t = targets.to(torch.float32)
        o = out.to(torch.float32)
        if bool(((t >= 0) & (t <= 1)).all()):
            found[LossKind("bce")] = F.binary_cross_entropy_with_logits(o, t)
        found[LossKind("mse")] = F.mse_loss(o, t)
    return found


def recognise_loss(ctx: CheckContext, out: torch.Tensor, targets: Any, value: float) -> LossKind | None:
    """Which standard loss ``ctx.loss_fn`` computes: by its class, else by matching its value."""
    candidates = candidate_losses(out, targets)
    by_name = {k.name: k for k in candidates}
    fn = ctx.loss_fn
    if fn is None:
        return by_name.get("cross-entropy") or by_name.get("mse")
    for cls, name in ((nn.CrossEntropyLoss, "cross-entropy"), (nn.BCEWithLogitsLoss, "bce"), (nn.MSELoss, "mse")):
        if isinstance(fn, cls) and name in by_name:
            return by_name[name]
    for kind, loss in candidates.items():
        ref = float(loss)
        if math.isfinite(ref) and abs(ref - value) <= 1e-4 * max(1.0, abs(ref)):
            return kind
    return None


def accuracy(kind: LossKind | None, out: torch.Tensor, targets: Any) -> float | None:
    """Share of correct predictions for classification losses, None for regression."""
    if kind is None or not isinstance(targets, torch.Tensor):
        return None
    with torch.no_grad():
        if kind.name == "cross-entropy" and kind.class_dim is not None:
            pred = out.argmax(dim=kind.class_dim)
            valid = targets != -100
            if not bool(valid.any()):
                return None
            return float((pred[valid] == targets[valid]).float().mean())
        if kind.name == "bce":
            return float(((out > 0) == (targets > 0.5)).float().mean())
    return None


# --------------------------------------------------------------------------- training on one batch


@dataclass
class TrainRun:
    """The losses (and accuracies) of a short training run, and why it stopped."""

    losses: list[float] = field(default_factory=list)
    accuracies: list[float | None] = field(default_factory=list)
    stopped: str = "steps"  # "steps" | "converged" | "budget" | "non-finite" | "diverged"
    seconds: float = 0.0


def _dropout_off(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, DROPOUT_TYPES):
            module.eval()


def train_on_batch(
    model: nn.Module,
    inputs: Any,
    targets: Any,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    steps: int,
    budget: Budget,
    lr: float | Callable[[int], float] = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    kind: LossKind | None = None,
    done: Callable[[list[float], float | None], bool] | None = None,
    advance: Callable[[], None] | None = None,
    stop_if: Callable[[list[float]], bool] | None = None,
    next_batch: Callable[[], tuple[Any, Any]] | None = None,
) -> TrainRun:
    """Train ``model`` on one batch for up to ``steps`` Adam steps (dropout off) within ``budget``.

    ``lr`` is a constant or a schedule ``step -> lr``; ``done(losses, accuracy)`` ends the run as
    converged; ``stop_if(losses)`` ends it as "diverged". ``next_batch()``, when given, draws a new
    ``(inputs, targets)`` for every step after the first instead of repeating the one batch.
    """
    model.train()
    _dropout_off(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optimizer or torch.optim.Adam(params, lr=lr(0) if callable(lr) else lr)
    run = TrainRun()
    step_s = 0.0
    for step in range(steps):
        if not budget.allows(step_s):
            run.stopped = "budget"
            break
        t0 = time.perf_counter()
        if next_batch is not None and step > 0:
            inputs, targets = next_batch()
        if callable(lr):
            for group in opt.param_groups:
                group["lr"] = lr(step)
        opt.zero_grad(set_to_none=True)
        out = call_model(model, inputs)
        loss = loss_fn(out, targets)
        value = float(loss.detach())
        logits = primary_tensor(out)
        acc = accuracy(kind, logits.detach(), targets) if logits is not None else None
        run.losses.append(value)
        run.accuracies.append(acc)
        if advance is not None:
            advance()
        if not math.isfinite(value):
            run.stopped = "non-finite"
            break
        if stop_if is not None and stop_if(run.losses):
            run.stopped = "diverged"
            break
        if done is not None and done(run.losses, acc):
            run.stopped = "converged"
            break
        loss.backward()
        opt.step()
        step_s = time.perf_counter() - t0
    run.seconds = budget.spent()
    return run


def zeroed(inputs: Any) -> Any:
    """``inputs`` with its first tensor (the data, not masks or positions) replaced by zeros."""
    state = {"done": False}

    def zero_first(t: torch.Tensor) -> torch.Tensor:
        if state["done"]:
            return t
        state["done"] = True
        return torch.zeros_like(t)

    return map_tensors(inputs, zero_first)


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (for messages and details)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))
