"""Renderers: every output format is a pure function of the same report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nnlint.finding import Finding
from nnlint.results import InternalError


@dataclass
class LintReport:
    findings: list[Finding]
    files: int
    seconds: float
    rules: Sequence[type[Rule]] = ()
    errors: list[InternalError] = field(default_factory=list)
    fixed: int = 0
    statistics: bool = False
    color: bool = False


if TYPE_CHECKING:
    from nnlint.rule import Rule


def renderer(name: str) -> Callable[[LintReport], str]:
    import importlib

    module = {"text": "text", "json": "json_format", "sarif": "sarif", "github": "github"}[name]
    return importlib.import_module(f"nnlint.output.{module}").render


FORMATS = ("text", "json", "sarif", "github")
