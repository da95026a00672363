"""``batch-independence``: use backprop to chart dependencies (Karpathy's recipe).

With norm layers in eval mode (batch norm legitimately mixes samples in training), the output of
sample i may depend on input i only. We back-propagate a random projection of sample i's output and
require exactly zero gradient on every other sample's input (on the embedding output for token ids).
A model that mixes samples (a ``.view()`` where a ``.transpose()`` was meant on the batch axis, a mean
over the wrong dimension) fails, and we name the first module whose output mixes them: one backward
from each module's output, in the order the modules finish. For models the file declares causal, the
same test over time steps checks that position t never sees positions after t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nnprof.checks import register
from nnprof.checks.sanity_common import (
    BATCHNORM_TYPES,
    Budget,
    batch_inputs,
    batch_size,
    budget_of,
    call_model,
    map_tensors,
    preserved,
    seeded,
    skipped,
)
from nnprof.context import CheckContext
from nnprof.findings import Finding
from nnprof.loading import primary_tensor

CHECK = "batch-independence"
NORM_TYPES: tuple[type[nn.Module], ...] = (*BATCHNORM_TYPES, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm)

Select = Callable[[torch.Tensor], torch.Tensor]
Forbidden = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Record:
    """A module's primary input and output tensors as they flowed in the traced forward."""

    name: str
    inp: torch.Tensor | None
    out: torch.Tensor
    leaf: bool


@dataclass
class Probe:
    """One forward with gradient-tracking leaves (float inputs or embedding outputs) and module records."""

    leaves: list[torch.Tensor] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    output: torch.Tensor | None = None
    n: int = 0

    def depends(self, tensor: torch.Tensor, select: Select, forbidden: Forbidden) -> bool:
        """Whether ``select(tensor)`` receives gradient from a ``forbidden`` part of any leaf."""
        part = select(tensor).float()
        weights = torch.randn(part.shape, device=part.device)
        try:
            grads = torch.autograd.grad((part * weights).sum(), self.leaves, retain_graph=True, allow_unused=True)
        except RuntimeError:  # not differentiable from here, or modified in place afterwards
            return False
        return any(g is not None and bool((forbidden(g.nan_to_num(0.0)) != 0).any()) for g in grads)


def _wants_grad(t: Any, n: int) -> bool:
    return isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape[0] == n and t.requires_grad


def _leafify(inputs: Any, n: int, leaves: list[torch.Tensor]) -> Any:
    def make(t: torch.Tensor) -> torch.Tensor:
        if t.is_floating_point() and t.dim() > 0 and t.shape[0] == n:
            leaf = t.detach().clone().requires_grad_(True)
            leaves.append(leaf)
            return leaf
        return t

    return map_tensors(inputs, make)


def trace(model: nn.Module, inputs: Any, n: int) -> Probe:
    """Run ``model`` on ``inputs`` recording every module's primary input/output with batch size ``n``."""
    probe = Probe(n=n)
    token_shapes = {tuple(t.shape) for t in _int_tensors(inputs) if t.dim() > 0 and t.shape[0] == n}
    inputs = _leafify(inputs, n, probe.leaves)
    entered: dict[int, torch.Tensor | None] = {}

    def embed_hook(module: nn.Module, args: tuple, out: Any) -> Any:
        if args and isinstance(args[0], torch.Tensor) and tuple(args[0].shape) in token_shapes:
            leaf = out.detach().requires_grad_(True)
            probe.leaves.append(leaf)
            return leaf
        return out

    def pre_hook(module: nn.Module, args: tuple) -> None:
        first = args[0] if args else None
        entered[id(module)] = first if _wants_grad(first, n) else None

    def post_hook(name: str, leaf: bool) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, out: Any) -> None:
            t = primary_tensor(out)
            if _wants_grad(t, n):
                probe.records.append(Record(name, entered.get(id(module)), t, leaf))

        return hook

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding):
            handles.append(module.register_forward_hook(embed_hook))
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook(name, not list(module.children()))))
    try:
        probe.output = primary_tensor(call_model(model, inputs))
    finally:
        for h in handles:
            h.remove()
    return probe


def _int_tensors(inputs: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    map_tensors(inputs, lambda t: found.append(t) if not t.is_floating_point() else None)
    return found


def _prepare(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, NORM_TYPES):
            module.eval()
    for p in model.parameters():
        p.requires_grad_(False)


def _widen(inputs: Any, n: int) -> tuple[Any, int]:
    """A batch of at least 2 samples, so that "another sample" exists."""
    if n >= 2:
        return inputs, n
    reps = 2
    return map_tensors(inputs, lambda t: torch.cat([t] * reps) if t.dim() > 0 and t.shape[0] == n else t), n * reps


def locate(probe: Probe, select: Select, forbidden: Forbidden, budget: Budget) -> tuple[str, str] | None:
    """The first module (in finishing order) whose output already depends on a forbidden input.

    Returns ``(module path, where)``: "in" when the module itself mixes, "before" when its input was
    already mixed by code between modules (the mixing is then in the calling module's own forward).
    """
    for rec in probe.records:
        if not budget.allows():
            return None
        if not probe.depends(rec.out, select, forbidden):
            continue
        if rec.inp is not None and probe.depends(rec.inp, select, forbidden):
            return rec.name, "before"
        return rec.name, "in"
    return None


def _where(name: str, where: str) -> str:
    if where == "before":
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        return (f"the input of `{name}` already mixes them: the mixing is in the forward code of "
                f"`{parent or '(the model)'}` just before it calls `{name}`")
    return f"the first module whose output mixes them is `{name or '(the model)'}`"


def _batch_test(probe: Probe, budget: Budget) -> Finding | None:
    n = probe.n
    i = n // 2

    def select(t: torch.Tensor) -> torch.Tensor:
        return t[i]

    def forbidden(g: torch.Tensor) -> torch.Tensor:
        return torch.cat([g[:i], g[i + 1 :]])

    if not probe.depends(probe.output, select, forbidden):
        return None
    found = locate(probe, select, forbidden, budget)
    module = found[0] if found else ""
    where = _where(*found) if found else "the mixing module could not be located"
    message = (f"the output of sample {i} depends on other samples of the batch (norm layers in eval mode); "
               f"{where}. Look for a .view()/.reshape() where a .transpose()/.permute() was meant, or a "
               "reduction over the batch dimension")
    return Finding(CHECK, "error", module, message, {"sample": i, "batch_size": n, "located": found is not None})


def _time_test(probe: Probe, budget: Budget) -> Finding | None:
    t_len = _seq_len(probe)
    if t_len is None:
        return None
    for t in sorted({0, t_len // 2, t_len - 2}):

        def select(x: torch.Tensor, t: int = t) -> torch.Tensor:
            return x[:, t]

        def forbidden(g: torch.Tensor, t: int = t) -> torch.Tensor:
            return g[:, t + 1 :] if g.dim() > 1 and g.shape[1] == t_len else g[:, :0]

        if probe.depends(probe.output, select, forbidden):
            timed = [r for r in probe.records if r.out.dim() > 1 and r.out.shape[1] == t_len]
            found = locate(Probe(probe.leaves, timed, probe.output, probe.n), select, forbidden, budget)
            module = found[0] if found else ""
            where = _where(*found).replace("mixes them", "sees the future") if found else "not located"
            message = (f"the model is declared causal but its output at position {t} depends on later "
                       f"positions; {where}. Check the attention mask (is_causal=True, or a tril mask) and "
                       "any padding/shift of the sequence")
            return Finding(CHECK, "error", module, message, {"position": t, "seq_len": t_len})
    return None


def _seq_len(probe: Probe) -> int | None:
    out = probe.output
    if out is None or out.dim() < 2 or out.shape[1] < 2:
        return None
    if any(leaf.dim() > 1 and leaf.shape[1] == out.shape[1] for leaf in probe.leaves):
        return int(out.shape[1])
    return None


@register(CHECK, default=True, budget_s=20, needs_batch=False)
def batch_independence(ctx: CheckContext) -> list[Finding]:
    """Error when a sample's output depends on other samples (and, for causal models, on the future)."""
    if ctx.device.type == "meta":
        return [skipped(CHECK, "meta device: no gradients to chart")]
    inputs = batch_inputs(ctx)
    n = batch_size(inputs)
    if n is None:
        return [skipped(CHECK, "the input has no batch dimension")]
    inputs, n = _widen(inputs, n)
    budget = budget_of(ctx)
    with preserved(ctx.model) as model, seeded(ctx.seed):
        _prepare(model)
        probe = trace(model, inputs, n)
        if probe.output is None or probe.output.dim() == 0 or probe.output.shape[0] != n:
            return [skipped(CHECK, "the output has no leading batch dimension")]
        if not probe.leaves:
            return [skipped(CHECK, "no float input or embedding to take gradients on")]
        findings = [f for f in (_batch_test(probe, budget),) if f is not None]
        if ctx.causal and not findings:
            findings += [f for f in (_time_test(probe, budget),) if f is not None]
    return findings
