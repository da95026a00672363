"""The Python API: profile a model object you already have, without writing a model file.

    import nnprof

    report = nnprof.profile(model, (inputs, targets))
    for finding in report.findings:
        print(finding.severity, finding.check, finding.module, finding.message)
    report.to_html("report.html")

``profile`` wraps the model the way the CLI's loader wraps a model file, then runs the same runner
(``nnprof.runner.run_profile``): the returned ``Report`` has the JSON's fields (``to_dict()``,
``to_json()``) and ``to_html(path)``. The model you pass is never trained and never moved: checks that
train work on copies, and profiling on another device works on a copy.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from nnprof.loading import (
    LoadedModel,
    ModelLoadError,
    default_loss,
    default_optimizer,
    restored,
    validate_model,
)
from nnprof.report import Report
from nnprof.runner import resolve_device, run_profile


def _checks(checks: str | Iterable[str] | None) -> list[str] | None:
    """``None`` (the default checks), ``"all"``, ``"a,b"`` or an iterable of check ids."""
    if checks is None:
        return None
    if isinstance(checks, str):
        if checks == "all":
            from nnprof.runner import load_checks

            return list(load_checks())
        return [c.strip() for c in checks.split(",") if c.strip()]
    return list(checks)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def wrap_model(
    model: nn.Module,
    batch: tuple[Any, Any] | None,
    *,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    example_input: Any = None,
    device: str | torch.device = "auto",
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    build_model: Callable[[], nn.Module] | None = None,
    get_batch: Callable[[], tuple[Any, Any]] | None = None,
    causal: bool = False,
    name: str | None = None,
) -> LoadedModel:
    """A ``LoadedModel`` for an in-memory model, as the loader makes for a model file (validated:
    a forward that raises, or a loss that cannot take the output, raises ``ModelLoadError``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if batch is not None and (not isinstance(batch, (tuple, list)) or len(batch) != 2):
        raise TypeError("batch must be (inputs, targets)")
    if batch is None and example_input is None:
        raise TypeError("give a batch (inputs, targets) or an example_input")
    target = resolve_device(device)
    if _model_device(model) != target:
        model = copy.deepcopy(model)  # .to() moves in place: leave the caller's model where it is
    if build_model is None:
        pristine = copy.deepcopy(model)

        def build_model() -> nn.Module:
            return copy.deepcopy(pristine)

    loaded = LoadedModel(
        spec=name or type(model).__name__,
        source=None,
        model=model,
        example_input=example_input if example_input is not None else batch[0],
        batch=tuple(batch) if batch is not None else None,
        get_batch=get_batch,
        loss_fn=loss_fn or default_loss,
        make_optimizer=make_optimizer or default_optimizer,
        build_model=build_model,
        causal=causal,
        user_loss=loss_fn is not None,
        device=_model_device(model),
    )
    validate_model(loaded, loaded.spec)
    return loaded


def profile(
    model: nn.Module,
    batch: tuple[Any, Any] | None = None,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    *,
    checks: str | Iterable[str] | None = None,
    skip: Iterable[str] = (),
    device: str | torch.device = "auto",
    example_input: Any = None,
    dtype: str | torch.dtype = "bfloat16",
    seed: int = 0,
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    build_model: Callable[[], nn.Module] | None = None,
    get_batch: Callable[[], tuple[Any, Any]] | None = None,
    causal: bool = False,
    batch_size: int | None = None,
    options: dict[str, Any] | None = None,
    name: str | None = None,
) -> Report:
    """Profile ``model`` on ``batch = (inputs, targets)`` and return the ``Report``.

    ``checks`` selects check ids (default: every default check; ``"all"`` adds the opt-in ones such as
    ``lr-range``); ``skip`` removes some. ``loss_fn(output, targets)`` defaults to the contract's
    (cross-entropy for class ids, MSE for float targets). ``dtype`` is the precision the model will
    train in on a GPU; ``device`` ``"auto"`` is cuda when available. ``causal=True`` adds the time-step
    causality test; ``get_batch`` lets ``lr-range`` draw a fresh batch per step. ``name`` is the
    report's ``model`` field (default: the model's class name). Raises ``ModelLoadError`` when the
    model cannot run on the inputs, ``ValueError`` for an unknown check id.
    """
    loaded = wrap_model(model, batch, loss_fn=loss_fn, example_input=example_input, device=device,
                        make_optimizer=make_optimizer, build_model=build_model, get_batch=get_batch,
                        causal=causal, name=name)
    options = dict(options or {})
    if get_batch is not None:
        options.setdefault("get_batch", get_batch)
    with untouched(loaded.model):
        return run_profile(loaded, device=device, dtype=dtype, batch_size=batch_size, checks=_checks(checks),
                           skip=skip, seed=seed, options=options)


@contextlib.contextmanager
def untouched(model: nn.Module) -> Iterator[nn.Module]:
    """Give ``model`` back as it came: what ``restored`` puts back (buffers such as batch-norm statistics,
    train/eval modes), and ``requires_grad`` and the gradients the caller had."""
    params = {p: (p.requires_grad, p.grad) for p in model.parameters()}
    try:
        with restored(model):
            yield model
    finally:
        for p, (flag, grad) in params.items():
            p.requires_grad_(flag)
            p.grad = grad


__all__ = ["ModelLoadError", "Report", "profile", "wrap_model"]
