"""Apply fixes to files: verified (re-parses, a second pass changes nothing) and atomic, or not at all."""

from __future__ import annotations

import io
import os
import tempfile
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import libcst as cst

from nnlint.engine import decode_source, lint_source
from nnlint.finding import Finding
from nnlint.fixes import apply_fixes
from nnlint.rule import Rule


@dataclass
class FixOutcome:
    path: str
    applied: int = 0
    error: str | None = None


def fix_text(
    path: str, text: str, findings: Sequence[Finding], rules: Sequence[type[Rule]], options: Mapping[str, Any], unsafe: bool
) -> tuple[str, int]:
    """Apply fixes until nothing changes (at most a few rounds); raises ValueError if a result is unsound."""
    total = 0
    current_findings = list(findings)
    for _ in range(4):
        new_text, applied = apply_fixes(text, current_findings, unsafe=unsafe)
        if not applied or new_text == text:
            break
        try:
            cst.parse_module(new_text)
        except cst.ParserSyntaxError as exc:
            raise ValueError(f"the fixed code does not parse ({exc.message})") from exc
        text, total = new_text, total + applied
        current_findings = lint_source(path, text, rules, options).findings
    else:
        raise ValueError("fixes did not converge: a further --fix would change the file again")
    return text, total


def write_atomic(path: str, text: str, encoding: str = "utf-8") -> None:
    directory = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode
    fd, tmp = tempfile.mkstemp(prefix=".nnlint-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fix_file(
    path: str, findings: Sequence[Finding], rules: Sequence[type[Rule]], options: Mapping[str, Any], unsafe: bool
) -> FixOutcome:
    outcome = FixOutcome(path)
    if not any(f.fix is not None and (unsafe or f.fix.applicability == "safe") for f in findings):
        return outcome
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        original = decode_source(data)
        text, applied = fix_text(path, original, findings, rules, options, unsafe)
        if applied and text != original:
            write_atomic(path, text, encoding)
        outcome.applied = applied
    except (OSError, ValueError, UnicodeError, SyntaxError) as exc:
        outcome.error = str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))
    return outcome
