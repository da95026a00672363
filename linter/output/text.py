"""Ruff-like text: ``path:line:col: CODE message``, then a summary line. Colour only when asked (a TTY)."""

from __future__ import annotations

from collections import Counter

import click

from nnlint.output import LintReport


def render(report: LintReport) -> str:
    def style(text: str, **kw) -> str:
        return click.style(text, **kw) if report.color else text

    lines = []
    for f in [] if report.statistics else report.findings:
        location = style(f.path, bold=True) + f":{f.line}:{f.column}:"
        code = style(f.code, fg="red" if f.severity == "error" else "yellow", bold=True)
        marker = " [*]" if f.fix is not None and f.fix.applicability == "safe" else ""
        lines.append(f"{location} {code}{marker} {f.message}")
    if report.statistics and report.findings:
        counts = Counter((f.code, f.name) for f in report.findings)
        fixable = Counter(f.code for f in report.findings if f.fix is not None)
        for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            mark = " [*]" if fixable[code] else ""
            lines.append(f"{n:>5}  {code:<6}{mark:<4} {name}")
    lines.append(summary(report, style))
    return "\n".join(lines) + "\n"


def summary(report: LintReport, style) -> str:
    n = len(report.findings)
    files = f"{report.files} file{'s' if report.files != 1 else ''}"
    fixed = f" Fixed {report.fixed}." if report.fixed else ""
    if n == 0:
        return style(f"All checks passed! ({files} in {report.seconds:.2f}s)", fg="green") + fixed
    safe = sum(1 for f in report.findings if f.fix is not None and f.fix.applicability == "safe")
    hint = f" {safe} fixable with --fix." if safe else ""
    return style(f"Found {n} finding{'s' if n != 1 else ''} in {files} ({report.seconds:.2f}s).", bold=True) + fixed + hint
