"""Watch the operators a model executes, and which module issued each one.

Two taps share one ``ModuleStack``:

* a ``TorchDispatchMode`` sees every aten operator below autograd, in the forward and in the backward,
  on any device (cpu, cuda, meta);
* a ``TorchFunctionMode`` sees a few composite calls whole (attention, RNNs) before torch decomposes
  them differently per device (the math path on meta, mkldnn on cpu, cuDNN on cuda). While such a call
  runs, the aten operators it decomposes into are hidden from the dispatch tap, so an op is seen once.

The taps only report ``OpEvent``s to a callback; what to do with them (count FLOPs, record shapes, take
activation statistics) is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.autograd.graph import register_multi_grad_hook
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

Phase = str  # "forward" | "backward"


def op_name(name: str) -> str:
    """The bare operator name: ``aten::add_`` / ``aten.add_.Tensor`` / ``add_`` -> ``add``."""
    if "::" in name:
        name = name.split("::", 1)[1]
    if name.startswith("aten."):
        name = name.split(".")[1]
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name


def bind_args(func: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Name the arguments of an aten overload from its schema (missing defaults are left out)."""
    bound = dict(kwargs)
    schema = getattr(func, "_schema", None)
    if schema is None:
        return {**{str(i): a for i, a in enumerate(args)}, **bound}
    for arg, value in zip(schema.arguments, args, strict=False):
        bound[arg.name] = value
    return bound


@dataclass
class OpEvent:
    """One operator call: its bare name, arguments (by schema name where known), output, origin."""

    name: str
    func: Any
    args: tuple
    kwargs: dict
    out: Any
    module: str
    phase: Phase
    level: str  # "dispatch" | "function"

    def bound(self) -> dict[str, Any]:
        return bind_args(self.func, self.args, self.kwargs)


class ModuleStack:
    """Tracks which module of ``model`` is running, by its ``named_modules()`` path ("" is the root).

    The forward uses pre/post forward hooks; the backward uses gradient hooks on each module's outputs
    (its backward starts) and inputs (its backward ends), the same scheme as torch's ModuleTracker.
    ``order`` lists module paths in the order of their first forward call.
    """

    def __init__(self, model: nn.Module) -> None:
        self._names = {id(m): name for name, m in model.named_modules()}
        self._model = model
        self._forward: list[str] = []
        self._backward: list[str] = []
        self._handles: list[Any] = []
        self.order: list[str] = []

    @property
    def phase(self) -> Phase:
        return "backward" if torch._C._current_graph_task_id() != -1 else "forward"

    def current(self) -> str:
        if self.phase == "backward":
            return self._backward[-1] if self._backward else ""
        return self._forward[-1] if self._forward else ""

    def _pre(self, module: nn.Module, args: Any) -> None:
        name = self._names.get(id(module), "")
        if name not in self.order:
            self.order.append(name)
        self._forward.append(name)
        tensors = _grad_tensors(args)
        if tensors and torch.is_grad_enabled():
            self._handles.append(register_multi_grad_hook(tensors, lambda _g, n=name: self._bw_exit(n)))

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        name = self._names.get(id(module), "")
        if self._forward and self._forward[-1] == name:
            self._forward.pop()
        tensors = _grad_tensors(output)
        if tensors and torch.is_grad_enabled():
            self._handles.append(register_multi_grad_hook(tensors, lambda _g, n=name: self._bw_enter(n)))

    def _bw_enter(self, name: str) -> None:
        # A module and its last child share an output tensor, so their hooks fire together, parent
        # last: keep the child on top, as its backward runs first.
        i = len(self._backward)
        while i > 0 and _is_inside(self._backward[i - 1], name):
            i -= 1
        self._backward.insert(i, name)

    def _bw_exit(self, name: str) -> None:
        for i in range(len(self._backward) - 1, -1, -1):
            if self._backward[i] == name:
                del self._backward[i]
                return

    def __enter__(self) -> ModuleStack:
        for module in self._model.modules():
            self._handles.append(module.register_forward_pre_hook(self._pre))
            self._handles.append(module.register_forward_hook(self._post))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _is_inside(child: str, parent: str) -> bool:
    return child != parent and (parent == "" or child.startswith(parent + "."))


def _grad_tensors(obj: Any) -> list[torch.Tensor]:
    leaves, _ = tree_flatten(obj)
    return [t for t in leaves if isinstance(t, torch.Tensor) and t.requires_grad]


class _DispatchTap(TorchDispatchMode):
    def __init__(self, stack: ModuleStack, on_op: Callable[[OpEvent], None]) -> None:
        super().__init__()
        self.stack = stack
        self.on_op = on_op
        self.hidden = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.hidden or self.stack.phase == "backward":
            name = op_name(func.overloadpacket.__name__)
            event = OpEvent(name, func, args, kwargs, out, self.stack.current(), self.stack.phase, "dispatch")
            self.on_op(event)
        return out


class _FunctionTap(TorchFunctionMode):
    def __init__(self, dispatch: _DispatchTap, names: frozenset[str]) -> None:
        super().__init__()
        self.dispatch = dispatch
        self.names = names

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name not in self.names:
            return func(*args, **kwargs)
        self.dispatch.hidden += 1
        try:
            out = func(*args, **kwargs)
        finally:
            self.dispatch.hidden -= 1
        stack = self.dispatch.stack
        self.dispatch.on_op(OpEvent(name, func, args, kwargs, out, stack.current(), stack.phase, "function"))
        return out


@contextmanager
def tap_ops(
    model: nn.Module, on_op: Callable[[OpEvent], None], *, whole: frozenset[str] = frozenset()
) -> Iterator[ModuleStack]:
    """Report every operator run inside the block to ``on_op``; calls named in ``whole`` are reported
    once at the function level, and the aten ops they decompose into (forward) are not reported."""
    with ExitStack() as stack:
        modules = stack.enter_context(ModuleStack(model))
        dispatch = _DispatchTap(modules, on_op)
        if whole:
            stack.enter_context(_FunctionTap(dispatch, whole))
        stack.enter_context(dispatch)
        yield modules
