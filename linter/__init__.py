"""nnlint: a static linter for the bugs in PyTorch training code that never raise an exception."""

from nnlint.finding import Edit, Finding, Fix
from nnlint.rule import Invalid, Rule, Valid

__version__ = "0.1.0"
__all__ = ["Edit", "Finding", "Fix", "Invalid", "Rule", "Valid", "__version__"]
