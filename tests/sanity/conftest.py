"""Shared fixtures of the sanity-check tests: registers the checks and runs them by id."""

from __future__ import annotations

import pytest
import torch

import nnprof.checks.sanity_dependence  # noqa: F401  (registers the checks)
import nnprof.checks.sanity_graph  # noqa: F401
import nnprof.checks.sanity_loss  # noqa: F401
import nnprof.checks.sanity_training  # noqa: F401
from nnprof.checks import REGISTRY
from nnprof.context import CheckContext
from nnprof.findings import Finding

DEFAULT_SANITY = ["loss-at-init", "batch-independence", "overfit-batch", "input-independence",
                  "dropout-before-batchnorm"]


def run_check(check_id: str, ctx: CheckContext) -> list[Finding]:
    return REGISTRY[check_id].fn(ctx)


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity in ("warning", "error")]


@pytest.fixture(autouse=True, scope="package")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine OpenMP threads
    spin-waiting for each other make them 10-50x slower (and budgets flaky)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
