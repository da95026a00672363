"""A pytest helper: make a model's health a unit test in your own suite.

    from nnprof.testing import assert_healthy

    def test_classifier_is_healthy():
        assert_healthy(build_classifier(), (inputs, targets))

``assert_healthy`` runs ``nnprof.profile`` and raises ``AssertionError`` listing every check that
reported a warning or an error, with its module and numbers. By default it runs the health checks
(``HEALTH_CHECKS``: gradients at init, dead units, update ratio and the recipe's sanity checks), not the
performance ones (``tc-alignment``, ``throughput``): a slow or misaligned model is not a broken one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nnprof.findings import Finding

HEALTH_CHECKS = (
    "exploding-gradients",
    "vanishing-gradients",
    "dead-relu",
    "update-ratio",
    "loss-at-init",
    "batch-independence",
    "overfit-batch",
    "input-independence",
    "dropout-before-batchnorm",
)


def _health_checks() -> list[str]:
    from nnprof.runner import load_checks

    registry = load_checks()
    return [c for c in HEALTH_CHECKS if c in registry]


def _numbers(details: dict[str, Any], limit: int = 8) -> str:
    scalars = [(k, v) for k, v in details.items() if isinstance(v, (int, float, str, bool)) or v is None]
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in scalars[:limit])


def describe(findings: Iterable[Finding]) -> str:
    """One line per finding: ``check [severity] at `module`: message (numbers)``."""
    lines = []
    for f in findings:
        where = f" at `{f.module}`" if f.module else ""
        numbers = _numbers(f.details)
        lines.append(f"  - {f.check} [{f.severity}]{where}: {f.message}" + (f" ({numbers})" if numbers else ""))
    return "\n".join(lines)


def assert_healthy(
    model: Any,
    batch: tuple[Any, Any] | None = None,
    checks: str | Iterable[str] | None = None,
    *,
    ignore: Iterable[str] = (),
    fail_on: Iterable[str] = ("warning", "error"),
    **kwargs: Any,
) -> Any:
    """Profile ``model`` on ``batch`` and fail when a check reports a warning or an error.

    ``checks`` defaults to ``HEALTH_CHECKS``; ``ignore`` lists check ids whose findings do not fail;
    ``fail_on`` the severities that do. Other keyword arguments go to ``nnprof.profile`` (``loss_fn``,
    ``device``, ``seed``, ``causal``, ...). Returns the ``Report`` when the model is healthy.
    """
    from nnprof.api import profile

    report = profile(model, batch, checks=_health_checks() if checks is None else checks, **kwargs)
    severities, ignored = set(fail_on), set(ignore)
    failed = [f for f in report.sorted_findings() if f.severity in severities and f.check not in ignored]
    if failed:
        names = sorted({f.check for f in failed})
        raise AssertionError(
            f"{report.model} is not healthy: {len(names)} check(s) failed ({', '.join(names)})\n" + describe(failed)
        )
    return report
