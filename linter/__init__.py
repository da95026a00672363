"""nnlint: a static linter for the bugs in PyTorch training code that never raise an exception."""

from typing import Any

from nnlint.finding import Edit, Finding, Fix

__version__ = "0.1.0"
__all__ = ["Edit", "Finding", "Fix", "Invalid", "Rule", "Valid", "__version__"]


def __getattr__(name: str) -> Any:
    # The rule base loads libcst (~0.2 s); a run answered from the cache never needs it.
    if name in ("Invalid", "Rule", "Valid"):
        from nnlint import rule

        return getattr(rule, name)
    raise AttributeError(f"module 'nnlint' has no attribute {name!r}")
