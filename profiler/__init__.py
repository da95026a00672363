"""nnprof: load a PyTorch model, count what it costs, and check that it is healthy before a long run.

``import nnprof`` does not import torch (the CLI starts fast and can say what is missing); the API
names load on first use::

    report = nnprof.profile(model, (inputs, targets))   # nnprof.api.profile, needs torch
    report.findings; report.to_json(); report.to_html("report.html")

and ``nnprof.testing.assert_healthy(model, batch)`` makes a model's health a unit test.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "profile": ("nnprof.api", "profile"),
    "Report": ("nnprof.report", "Report"),
    "Finding": ("nnprof.findings", "Finding"),
    "ModelLoadError": ("nnprof.loading", "ModelLoadError"),
    "assert_healthy": ("nnprof.testing", "assert_healthy"),
    "render_html": ("nnprof.render.html", "render_html"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nnprof' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
