"""What linting one file produces; free of libcst so that a run answered from the cache never loads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnlint.finding import Finding

SYNTAX_ERROR_CODE = "NN000"
SYNTAX_ERROR_NAME = "syntax-error"


@dataclass(frozen=True)
class InternalError:
    """A rule raised on a file: reported to the user, never allowed to stop the run."""

    path: str
    rule: str
    message: str


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)


def syntax_error(path: str, message: str, line: int = 1, column: int = 1) -> Finding:
    return Finding(path, line, column, line, column, SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME, message, "error")
