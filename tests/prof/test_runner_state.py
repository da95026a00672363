"""The runner measures the model without changing it: batch-norm statistics and modes stay as loaded."""

from __future__ import annotations

import torch

from nnprof.loading import load_model
from nnprof.runner import run_profile

BN_MODEL = """
import torch
from torch import nn

def build_model():
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))

def example_input():
    return torch.randn(32, 8) * 5 + 3

def get_batch():
    return torch.randn(32, 8) * 5 + 3, torch.randint(0, 4, (32,))
"""


def test_profile_leaves_batch_norm_statistics_alone(model_file):
    loaded = load_model(str(model_file(BN_MODEL)))
    bn = loaded.model[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    calls = []
    original = loaded.get_batch

    def counting_get_batch():
        calls.append(1)
        return original()

    loaded.get_batch = counting_get_batch
    run_profile(loaded, device="cpu", checks=["lr-range", "exploding-gradients", "dead-relu"], seed=0,
                options={"budget_scale": 0.2})
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]
    assert loaded.model.training
    assert len(calls) > 1  # lr-range draws fresh batches, not the same one again and again
