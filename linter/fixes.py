"""Apply fixes to source text. Edits are (line, column) ranges on the original text; overlapping edits
are skipped (the next ``--fix`` run picks them up)."""

from __future__ import annotations

from collections.abc import Iterable

from nnlint.finding import Edit, Finding


def _offsets(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _offset(starts: list[int], line: int, column: int) -> int:
    return starts[line - 1] + column - 1


def apply_fixes(text: str, findings: Iterable[Finding], *, unsafe: bool = False) -> tuple[str, int]:
    """Return the fixed text and the number of findings whose fix was applied."""
    starts = _offsets(text)
    chosen: list[tuple[int, int, str]] = []
    applied = 0
    taken: list[tuple[int, int]] = []
    for finding in findings:
        fix = finding.fix
        if fix is None or (fix.applicability == "unsafe" and not unsafe):
            continue
        spans = [(_offset(starts, e.line, e.column), _offset(starts, e.end_line, e.end_column), e) for e in fix.edits]
        if any(s < te and ts < e or s == e == ts for s, e, _ in spans for ts, te in taken):
            continue
        for s, e, edit in spans:
            chosen.append((s, e, edit.content))
            taken.append((s, e))
        applied += 1
    for start, end, content in sorted(chosen, reverse=True):
        text = text[:start] + content + text[end:]
    return text, applied


__all__ = ["Edit", "apply_fixes"]
