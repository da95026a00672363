"""``dropout-before-batchnorm``: a dropout whose output reaches a batch norm in the executed graph.

Dropout scales the surviving activations by 1/(1-p) in training and not at all in evaluation, so the
variance a following batch norm learns in training is not the one it sees in evaluation ("variance
shift", Li et al., *Understanding the Disharmony between Dropout and Batch Normalization*, CVPR 2019).
The static rule NN301 reads source; this check follows what actually runs, through any nesting: one
forward in training mode with module hooks (in call order) and a ``TorchFunctionMode`` that carries a
"comes from dropout X" mark through shape-preserving element-wise operations (activations,
arithmetic, casts, clones). A batch norm that receives a marked tensor is reported with both paths.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from nnprof.checks import register
from nnprof.checks.sanity_common import (
    BATCHNORM_TYPES,
    DROPOUT_TYPES,
    batch_inputs,
    call_model,
    iter_tensors,
    preserved,
    seeded,
    skipped,
)
from nnprof.context import CheckContext
from nnprof.findings import Finding

CHECK = "dropout-before-batchnorm"

_ACTIVATIONS = (
    "relu relu6 gelu silu sigmoid tanh leaky_relu elu selu celu mish hardswish hardtanh hardsigmoid "
    "softplus softsign logsigmoid threshold tanhshrink hardshrink softshrink rrelu"
)
_ARITHMETIC = (
    "add sub mul div true_divide neg abs clamp clip clamp_min clamp_max pow square sqrt rsqrt exp log "
    "reciprocal sign where masked_fill __add__ __radd__ __iadd__ __sub__ __rsub__ __isub__ __mul__ __rmul__ "
    "__imul__ __truediv__ __rtruediv__ __itruediv__ __neg__ __pos__ __abs__ __pow__"
)
_PASS_THROUGH = "contiguous clone to float half bfloat16 double type type_as detach identity requires_grad_"
_DROPOUTS = "dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout"


def _names(*groups: str) -> frozenset[str]:
    words = {w for g in groups for w in g.split()}
    return frozenset(words | {w + "_" for w in words if not w.startswith("__")})


ELEMENTWISE = _names(_ACTIVATIONS, _ARITHMETIC, _PASS_THROUGH, _DROPOUTS)
FUNCTIONAL_DROPOUT = _names(_DROPOUTS)


class _Taint:
    """Which tensors (by identity, kept alive) carry a dropout's output, and through which ops."""

    def __init__(self) -> None:
        self.marks: dict[int, tuple[str, tuple[str, ...]]] = {}
        self._alive: list[torch.Tensor] = []

    def mark(self, t: Any, source: str, ops: tuple[str, ...]) -> None:
        if isinstance(t, torch.Tensor):
            self.marks[id(t)] = (source, ops)
            self._alive.append(t)

    def of(self, t: Any) -> tuple[str, tuple[str, ...]] | None:
        return self.marks.get(id(t)) if isinstance(t, torch.Tensor) else None


class _Propagate(TorchFunctionMode):
    """Carry dropout marks through shape-preserving element-wise torch functions."""

    def __init__(self, taint: _Taint, stack: list[str]) -> None:
        super().__init__()
        self.taint = taint
        self.stack = stack

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name not in ELEMENTWISE or not isinstance(result, torch.Tensor):
            return result
        if name in FUNCTIONAL_DROPOUT and getattr(func, "__module__", "") == "torch.nn.functional":
            self.taint.mark(result, f"F.{name.strip('_')}@{self.stack[-1] if self.stack else ''}", ())
            return result
        for arg in iter_tensors((args, kwargs)):
            mark = self.taint.of(arg)
            if mark is not None and arg.shape == result.shape:
                source, ops = mark
                self.taint.mark(result, source, ops if result is arg else (*ops, name.strip("_")))
                break
        return result


def _trace(model: nn.Module, inputs: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(dropout path, batch-norm path, ops between)`` for every batch norm fed by a dropout."""
    taint, stack, pairs = _Taint(), [], []
    names = {m: n for n, m in model.named_modules()}

    def pre(module: nn.Module, args: tuple) -> None:
        stack.append(names[module])
        if isinstance(module, BATCHNORM_TYPES) and args:
            mark = taint.of(args[0])
            if mark is not None:
                pairs.append((mark[0], names[module], mark[1]))

    def post(module: nn.Module, args: tuple, out: Any) -> None:
        stack.pop()
        if isinstance(module, DROPOUT_TYPES):
            taint.mark(out, names[module], ())

    handles = [h for m in model.modules() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    try:
        with _Propagate(taint, stack):
            call_model(model, inputs)
    finally:
        for h in handles:
            h.remove()
    return list(dict.fromkeys(pairs))


def _finding(dropout: str, bn: str, ops: tuple[str, ...]) -> Finding:
    between = f" through {' -> '.join(ops)}" if ops else " directly"
    func, _, caller = dropout.rpartition("@")
    name = f"{func} in the forward of `{caller or '(the model)'}`" if func else f"dropout `{dropout}`"
    dropout = caller if func else dropout
    message = (f"{name} feeds batch norm `{bn}`{between}: dropout changes the variance the "
               "batch norm normalises between training and evaluation (variance shift); move the dropout "
               "after the last batch norm of the block (e.g. just before the classifier) or remove it")
    return Finding(CHECK, "warning", dropout, message, {"dropout": dropout, "batchnorm": bn, "ops": list(ops)})


@register(CHECK, default=True, budget_s=10, needs_batch=False)
def dropout_before_batchnorm(ctx: CheckContext) -> list[Finding]:
    """Warn for each (dropout, batch norm) pair joined only by element-wise ops in the executed graph."""
    if not any(isinstance(m, BATCHNORM_TYPES) for m in ctx.model.modules()):
        return []
    if ctx.device.type == "meta":
        return [skipped(CHECK, "meta device")]
    with preserved(ctx.model) as model, seeded(ctx.seed), torch.no_grad():
        model.train()
        pairs = _trace(model, batch_inputs(ctx))
    return [_finding(*pair) for pair in pairs]

