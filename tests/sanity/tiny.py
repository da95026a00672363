"""Tiny models built to pass or to fail each sanity check, and a CheckContext for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nnprof.context import CheckContext

# --------------------------------------------------------------------------- contexts and batches


def make_ctx(
    build: Callable[[], nn.Module],
    batch: tuple[Any, Any] | None,
    *,
    seed: int = 0,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    causal: bool = False,
    budget_s: float = 30.0,
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    **options: Any,
) -> CheckContext:
    torch.manual_seed(seed)
    model = build()
    example = batch[0] if batch is not None else None
    return CheckContext(model=model, example_input=example, device=torch.device("cpu"), dtype=torch.float32,
                        seed=seed, batch=batch, loss_fn=loss_fn, make_optimizer=make_optimizer,
                        build_model=build, causal=causal, budget_s=budget_s, options=options)


def cls_batch(seed: int = 0, n: int = 64, d: int = 20, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def token_batch(seed: int = 0, n: int = 4, t: int = 12, vocab: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n, t + 1), generator=g)
    return x[:, :-1], x[:, 1:]


def lm_loss(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), targets.reshape(-1))


# --------------------------------------------------------------------------- healthy models


def kaiming(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def mlp(d_in: int = 20, width: int = 64, out: int = 10, depth: int = 2) -> nn.Sequential:
    """The healthy reference: a Kaiming-initialised MLP with batch norm."""
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU()]
        d = width
    layers.append(nn.Linear(d, out))
    return kaiming(nn.Sequential(*layers))


class TinyLM(nn.Module):
    """A one-layer causal (or, with ``causal=False``, bidirectional) attention LM on token ids."""

    def __init__(self, causal: bool = True, vocab: int = 40, d: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.causal = causal
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(64, d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.head = nn.Linear(d, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=idx.device), 1) if self.causal else None
        x = x + self.attn(x, x, x, attn_mask=mask, need_weights=False)[0]
        return self.head(x + self.mlp(x))


# --------------------------------------------------------------------------- models built to fail


def hot_bias() -> nn.Module:
    """loss-at-init: the output layer's bias favours class 3 by a wide margin."""
    model = mlp()
    with torch.no_grad():
        model[-1].bias[3] = 8.0
    return model


class SeqFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.proj(x).transpose(0, 1))  # (T, N, D) for a sequence-first op
        return h.reshape(x.shape[0], x.shape[1], -1)  # BUG: a reshape where .transpose(0, 1) was meant


class ViewMixer(nn.Module):
    """batch-independence: ``block`` reshapes (T, N, D) into (N, T, D), mixing samples."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.block = SeqFirst()
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(torch.relu(self.inp(x))))


class BatchMeanMixer(nn.Module):
    """batch-independence: the root's own forward centres features over the batch between children."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.head(h - h.mean(dim=0, keepdim=True))


class TokenMixer(nn.Module):
    """batch-independence on token ids: a view over (N, T) that swaps samples and positions."""

    def __init__(self, vocab: int = 40, d: int = 16) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx)
        n, t, d = x.shape
        return self.head(x.transpose(0, 1).reshape(n, t, d))


class Constant(nn.Module):
    """overfit-batch and input-independence: the output is a learned constant, whatever the input."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.unused = nn.Linear(20, classes)
        self.logits = nn.Parameter(torch.zeros(classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


class IgnoresInput(nn.Module):
    """input-independence: a healthy MLP that is fed ``x * 0`` by mistake."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 0)


def dropout_then_bn() -> nn.Module:
    """dropout-before-batchnorm: Dropout -> ReLU -> BatchNorm, each in its own nested Sequential."""
    return nn.Sequential(
        nn.Linear(20, 64),
        nn.Sequential(nn.Dropout(0.2), nn.Sequential(nn.ReLU(), nn.BatchNorm1d(64))),
        nn.Linear(64, 10),
    )


def dropout_linear_bn() -> nn.Module:
    """A Linear between the dropout and the batch norm: fine (not element-wise)."""
    return nn.Sequential(nn.Linear(20, 64), nn.Dropout(0.2), nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(),
                         nn.Linear(64, 10))


class FunctionalDropoutBN(nn.Module):
    """dropout-before-batchnorm through ``F.dropout`` and arithmetic in the model's own forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.out = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(self.fc(x), 0.2, self.training)
        return self.out(self.bn(h * 2 + 1))
