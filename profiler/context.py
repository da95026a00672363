"""What a check receives: the loaded model, its inputs and the run's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class CheckContext:
    """Everything a check may use. Checks must not keep state on it between runs.

    ``model`` is on ``device``; ``example_input`` is what ``forward`` takes (a tensor, a tuple of
    positional arguments, or a dict of keyword arguments), already on ``device``. ``batch`` is
    ``(inputs, targets)`` from the user's ``get_batch()`` (or None when the file has none and none
    could be derived); ``loss_fn(output, targets)`` is the user's or the contract's default.
    ``make_optimizer(model)`` is the user's or Adam(3e-4). ``build_model`` rebuilds a fresh model (checks
    that train must train a fresh copy, never the shared one). ``shared`` caches measurements that
    several checks use (gradient norms at init, the GEMM shape records, FLOPs).
    """

    model: nn.Module
    example_input: Any
    device: torch.device
    dtype: torch.dtype
    seed: int = 0
    batch: tuple[Any, Any] | None = None
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None
    build_model: Callable[[], nn.Module] | None = None
    causal: bool = False
    budget_s: float = 20.0
    options: dict[str, Any] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)
