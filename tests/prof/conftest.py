"""Fixtures of the nnprof core tests: tiny model files, contexts for checks, the example models."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from nnprof.context import CheckContext
from nnprof.loading import default_loss, default_optimizer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "models"
MY_CHECKS = ["tc-alignment", "throughput", "exploding-gradients", "vanishing-gradients", "dead-relu", "update-ratio"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is as fast, and immune to OpenMP spinning on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def model_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a model file from source text; returns its path."""

    def write(source: str, name: str = "model.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        return path

    return write


TINY_MODEL = """
import torch
from torch import nn

def build_model():
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))

def example_input():
    return torch.randn(8, 16)

def get_batch():
    return torch.randn(8, 16), torch.randint(0, 4, (8,))
"""


def mlp(depth: int, width: int, act: type[nn.Module], *, std: float | None = None, kaiming: bool = False,
        batch_norm: bool = False, d_in: int = 32, d_out: int = 10) -> nn.Sequential:
    """A plain MLP: ``depth`` linear layers, optional batch norm, ``act`` between them."""
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth - 1):
        layers.append(nn.Linear(d, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(act())
        d = width
    layers.append(nn.Linear(d, d_out))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            if std is not None:
                nn.init.normal_(m.weight, 0.0, std)
            if kaiming:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def make_ctx(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None, *,
             dtype: torch.dtype = torch.bfloat16, build: Callable[[], nn.Module] | None = None,
             options: dict | None = None, device: str = "cpu") -> CheckContext:
    return CheckContext(
        model=model,
        example_input=inputs,
        device=torch.device(device),
        dtype=dtype,
        batch=(inputs, targets) if targets is not None else None,
        loss_fn=default_loss,
        make_optimizer=default_optimizer,
        build_model=build,
        options=options or {},
        budget_s=30.0,
    )
