"""Renderers: every output format is a pure function of the same report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nnlint.engine import InternalError
from nnlint.finding import Finding
from nnlint.rule import Rule


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


def renderer(name: str) -> Callable[[LintReport], str]:
    from nnlint.output import github, json_format, sarif, text

    return {"text": text.render, "json": json_format.render, "sarif": sarif.render, "github": github.render}[name]


FORMATS = ("text", "json", "sarif", "github")
