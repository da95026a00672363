"""Load a model file (or ``package.module:factory``) the way the contract describes, and call it.

A model file defines ``build_model()`` returning an ``nn.Module`` (or a module-level ``model``),
``example_input()`` returning what ``forward`` takes (a tensor, a tuple of positional arguments or a dict
of keyword arguments), and optionally ``get_batch()`` -> ``(inputs, targets)``, ``loss_fn(output,
targets)``, ``make_optimizer(model)`` and ``CAUSAL = True``. Each load executes the file in a fresh
module namespace that is not left in ``sys.modules``, so two models never share state.

Everything that goes wrong in the user's code becomes a ``ModelLoadError`` whose ``str`` is one line
naming the file and the reason, the user's exception message included.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import itertools
import random
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_COUNTER = itertools.count()


class ModelLoadError(Exception):
    """The model could not be loaded; ``str(err)`` is ``"<path>: <reason>"`` on one line."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = _one_line(reason)
        super().__init__(f"{self.path}: {self.reason}")


@dataclass
class LoadedModel:
    """A model ready to profile: the module, its inputs, and the callables of its file.

    ``build_model()`` returns a fresh model built the same way (same seed, same device); checks that
    train use it so the shared ``model`` stays at its initialisation. ``batch`` is ``get_batch()``'s
    result (None when the file has no ``get_batch``). ``loss_fn`` is the file's or ``default_loss``.
    """

    spec: str
    source: Path | None
    model: nn.Module
    example_input: Any
    batch: tuple[Any, Any] | None
    get_batch: Callable[[], tuple[Any, Any]] | None
    loss_fn: Callable[[Any, Any], torch.Tensor]
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    build_model: Callable[[], nn.Module]
    causal: bool = False
    user_loss: bool = False
    device: torch.device = torch.device("cpu")


def load_model(spec: str, *, device: str | torch.device = "cpu", seed: int = 0, validate: bool = True) -> LoadedModel:
    """Load ``spec`` (a ``.py`` path or ``package.module:factory``), build the model on ``device`` and,
    with ``validate``, run its forward on ``example_input()`` and the loss on ``get_batch()``.

    On ``meta`` the model is built under ``torch.device("meta")``: no weight is allocated.
    Raises ``ModelLoadError``.
    """
    device = torch.device(device)
    module, factory_name, where = _import(spec)
    factory = _find_factory(module, factory_name, where)

    def build() -> nn.Module:
        with seeded(seed), _device_context(device):
            model = _call(where, f"{factory_name or 'build_model'}()", factory)
        if not isinstance(model, nn.Module):
            raise ModelLoadError(where, f"{factory_name or 'build_model'}() returned {_type_name(model)}, not an nn.Module")
        return model.to(device)

    model = build()
    example_fn = getattr(module, "example_input", None)
    get_batch = getattr(module, "get_batch", None)
    if get_batch is not None and not callable(get_batch):
        raise ModelLoadError(where, "get_batch is not a function")

    batch = None
    if get_batch is not None:
        with seeded(seed + 1), _device_context(device):
            batch = _call(where, "get_batch()", get_batch)
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ModelLoadError(where, f"get_batch() must return (inputs, targets), got {_type_name(batch)}")
        batch = to_device(tuple(batch), device)

    if example_fn is None and batch is None:
        raise ModelLoadError(where, "defines no example_input() (nor get_batch() to take inputs from)")
    if example_fn is None:
        example = batch[0]
    else:
        with seeded(seed), _device_context(device):
            example = _call(where, "example_input()", example_fn) if callable(example_fn) else example_fn
        example = to_device(example, device)

    user_loss = getattr(module, "loss_fn", None)
    make_opt = getattr(module, "make_optimizer", None)
    loaded = LoadedModel(
        spec=spec,
        source=Path(module.__file__) if getattr(module, "__file__", None) else None,
        model=model,
        example_input=example,
        batch=batch,
        get_batch=get_batch,
        loss_fn=user_loss if callable(user_loss) else default_loss,
        make_optimizer=make_opt if callable(make_opt) else default_optimizer,
        build_model=build,
        causal=bool(getattr(module, "CAUSAL", False)),
        user_loss=callable(user_loss),
        device=device,
    )
    if validate:
        validate_model(loaded, where)
    return loaded


def validate_model(loaded: LoadedModel, where: str) -> None:
    """Run the forward on the example input, and the loss on the batch; raise ``ModelLoadError``."""
    on_meta = loaded.device.type == "meta"
    hint = " on the meta device (the model needs real values there; try --device cpu)" if on_meta else ""
    with torch.no_grad(), restored(loaded.model):
        _call(where, f"the forward pass{hint}", call_model, loaded.model, loaded.example_input)
        if loaded.batch is None:
            return
        inputs, targets = loaded.batch
        output = _call(where, f"the forward pass on get_batch()'s inputs{hint}", call_model, loaded.model, inputs)
        what = "loss_fn(output, targets)" if loaded.user_loss else "the default loss"
        loss = _call(where, f"{what} cannot take the model's output:", loaded.loss_fn, output, targets, sep=" ")
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else _type_name(loss)
        raise ModelLoadError(where, f"{what} returned {shape}, not a scalar tensor")


# ---------------------------------------------------------------------------------------------------
# Calling the model.


class Abandoned(BaseException):
    """Raised in a check's thread at its next forward once the runner has given up on it (its budget is
    spent), so that it stops instead of running on beside the next checks on the same model."""


_abandoned: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def abandon(thread: threading.Thread) -> None:
    """Stop ``thread`` at its next model call (threads cannot be killed; they can be told)."""
    _abandoned.add(thread)


def call_model(model: nn.Module, inputs: Any) -> Any:
    """``forward`` takes a tensor, a tuple/list of positional arguments, or a dict of keyword arguments."""
    if _abandoned and threading.current_thread() in _abandoned:
        raise Abandoned()
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def primary_tensor(value: Any) -> torch.Tensor | None:
    """The tensor that stands for a model's output: itself, ``logits``, or the first tensor inside."""
    if isinstance(value, torch.Tensor):
        return value
    logits = getattr(value, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(value, dict):
        if isinstance(value.get("logits"), torch.Tensor):
            return value["logits"]
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        for item in value:
            found = primary_tensor(item)
            if found is not None:
                return found
    return None


def primary_output(output: Any) -> torch.Tensor:
    """The tensor a loss is taken on (``primary_tensor``); TypeError when the output holds none."""
    found = primary_tensor(output)
    if found is None:
        raise TypeError(f"the model returned {_type_name(output)}, which holds no tensor")
    return found


def default_loss(output: Any, targets: torch.Tensor) -> torch.Tensor:
    """The contract's default: cross-entropy for integer class ids ((N, C) with (N,), (N, C, ...) with
    (N, ...), or (N, T, C) with (N, T)), MSE for float targets shaped like the output."""
    out = primary_output(output)
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a tensor, got {_type_name(targets)}")
    if targets.dtype == torch.bool:
        targets = targets.float()
    if not targets.is_floating_point() and not targets.is_complex():
        if out.dim() == targets.dim() + 1:
            if out.dim() >= 3 and tuple(out.shape[:-1]) == tuple(targets.shape):
                return F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), targets.reshape(-1))
            if out.shape[0] == targets.shape[0] and tuple(out.shape[2:]) == tuple(targets.shape[1:]):
                return F.cross_entropy(out.float(), targets)
        raise ValueError(
            f"integer targets of shape {tuple(targets.shape)} need an output of shape (N, C) or (N, T, C), "
            f"got {tuple(out.shape)}"
        )
    if tuple(targets.shape) != tuple(out.shape):
        raise ValueError(f"float targets of shape {tuple(targets.shape)} do not match the output shape {tuple(out.shape)}")
    return F.mse_loss(out.float(), targets.float())


def default_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """Adam at 3e-4, the recipe's safe default."""
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-4)


def to_device(obj: Any, device: torch.device | str) -> Any:
    """Move every tensor of a (nested) tuple/list/dict to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def batch_size_of(obj: Any) -> int | None:
    """The leading dimension of the first tensor found in ``obj``."""
    if isinstance(obj, torch.Tensor):
        return int(obj.shape[0]) if obj.dim() > 0 else None
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (tuple, list)) else []
    for value in values:
        size = batch_size_of(value)
        if size is not None:
            return size
    return None


def resize_batch(obj: Any, old: int, new: int) -> Any:
    """Every tensor whose leading dimension is ``old`` gets ``new`` rows (sliced, or tiled)."""
    if isinstance(obj, torch.Tensor):
        if obj.dim() == 0 or obj.shape[0] != old or old == new:
            return obj
        reps = -(-new // old)
        return obj.repeat(reps, *([1] * (obj.dim() - 1)))[:new] if new > old else obj[:new]
    if isinstance(obj, dict):
        return {k: resize_batch(v, old, new) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(resize_batch(v, old, new) for v in obj)
    return obj


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed python, numpy (when present) and torch."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy ships with torch
        pass
    yield


@contextmanager
def restored(model: nn.Module) -> Iterator[nn.Module]:
    """Run a measurement on ``model`` and put it back: buffers (batch-norm statistics), gradients and
    train/eval mode as they were."""
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    modes = {m: m.training for m in model.modules()}
    try:
        yield model
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])
        for m, mode in modes.items():
            m.training = mode
        for p in model.parameters():
            p.grad = None


# ---------------------------------------------------------------------------------------------------
# Importing the user's file in its own namespace.


def _import(spec: str) -> tuple[ModuleType, str | None, str]:
    path = Path(spec)
    if path.suffix == ".py" or path.exists() or ":" not in spec:
        if not path.exists():
            raise ModelLoadError(spec, "no such file")
        if path.is_dir():
            raise ModelLoadError(spec, "is a directory, not a model file")
        return _exec_file(path), None, spec
    module_name, _, factory = spec.partition(":")
    return _exec_module(module_name, spec), factory or None, spec


def _exec_file(path: Path) -> ModuleType:
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_nnprof_model_{next(_COUNTER)}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(str(path), "cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    before = set(sys.modules)
    sys.modules[name] = module  # dataclasses and typing look the module up while it executes
    sys.path.insert(0, folder)
    try:
        _exec(str(path), spec.loader, module)
    finally:
        sys.modules.pop(name, None)
        if folder in sys.path:
            sys.path.remove(folder)
        for added in set(sys.modules) - before:  # sibling helper files imported by the model
            if _is_sibling(added, getattr(sys.modules.get(added), "__file__", None), folder):
                sys.modules.pop(added, None)
    return module


def _is_sibling(name: str, file: str | None, folder: str) -> bool:
    """Whether module ``name`` was imported from ``folder`` itself (``folder/name.py`` or the package
    ``folder/name/``), not from an installed package that happens to live below it."""
    if not file:
        return False
    try:
        rel = Path(file).resolve().relative_to(folder)
    except ValueError:
        return False
    top = name.split(".")[0]
    return rel.parts[0] in (top, f"{top}.py")


def _exec_module(module_name: str, where: str) -> ModuleType:
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as exc:
        raise ModelLoadError(where, f"cannot import {module_name}: {_describe(exc)}") from exc
    if spec is None or spec.loader is None:
        raise ModelLoadError(where, f"no module named {module_name!r}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module
    try:
        _exec(where, spec.loader, module)
    finally:
        if previous is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = previous
    return module


def _exec(where: str, loader: Any, module: ModuleType) -> None:
    try:
        loader.exec_module(module)
    except SyntaxError as exc:
        raise ModelLoadError(where, f"syntax error at line {exc.lineno}: {exc.msg}") from exc
    except Exception as exc:
        raise ModelLoadError(where, f"importing it raised {_describe(exc)}") from exc


def _find_factory(module: ModuleType, factory_name: str | None, where: str) -> Callable[[], nn.Module]:
    if factory_name is not None:
        factory = getattr(module, factory_name, None)
        if factory is None:
            raise ModelLoadError(where, f"{module.__name__} has no {factory_name!r}")
        if not callable(factory):
            raise ModelLoadError(where, f"{factory_name} is not callable")
        return factory
    build = getattr(module, "build_model", None)
    if build is not None:
        if not callable(build):
            raise ModelLoadError(where, "build_model is not a function")
        return build
    model = getattr(module, "model", None)
    if isinstance(model, nn.Module):
        pristine = copy.deepcopy(model)
        return lambda: copy.deepcopy(pristine)
    raise ModelLoadError(where, "defines neither build_model() nor a module-level `model` (an nn.Module)")


def _call(where: str, what: str, fn: Callable[..., Any], *args: Any, sep: str = " raised ") -> Any:
    try:
        return fn(*args)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(where, f"{what}{sep}{_describe(exc)}") from exc


def _device_context(device: torch.device) -> Any:
    return torch.device("meta") if device.type == "meta" else nullcontext()


def _describe(exc: BaseException) -> str:
    message = _one_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(obj: Any) -> str:
    if obj is None:
        return "None"
    return f"a {type(obj).__name__}" if not inspect.isclass(obj) else f"the class {obj.__name__}"
