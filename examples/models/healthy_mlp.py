"""A well-initialised MLP classifier (Kaiming init, batch norm): nnprof should report no warning."""

from __future__ import annotations

import torch
from torch import nn

IN_FEATURES = 784
NUM_CLASSES = 10
BATCH_SIZE = 64


def build_model() -> nn.Module:
    widths = [IN_FEATURES, 256, 256, 128]
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(w_in, w_out, bias=False), nn.BatchNorm1d(w_out), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], NUM_CLASSES))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def example_input() -> torch.Tensor:
    return torch.randn(BATCH_SIZE, IN_FEATURES)


def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(BATCH_SIZE, IN_FEATURES), torch.randint(0, NUM_CLASSES, (BATCH_SIZE,))
