"""The report as text for a terminal: a summary header, the top modules by FLOPs, and the findings
grouped by severity with their fix. Colour only when asked (the CLI asks when stdout is a TTY)."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from nnprof.findings import Finding
from nnprof.report import Report

STYLES = {"error": "bold red", "warning": "bold yellow", "info": "cyan"}
TITLES = {"error": "Errors", "warning": "Warnings", "info": "Info"}


def human(value: float | None, unit: str = "") -> str:
    """3_420_000 -> '3.42 M'; None -> 'n/a'."""
    if value is None:
        return "n/a"
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def render_text(report: Report, *, color: bool = False, width: int = 110, top: int = 10) -> str:
    """The report as text (ANSI colours only with ``color``)."""
    console = Console(file=io.StringIO(), force_terminal=color, no_color=not color, color_system="standard" if color else None,
                      width=width, highlight=False, emoji=False)
    console.print(summary(report))
    modules = top_modules(report, top)
    if modules is not None:
        console.print(modules)
    console.print(findings_view(report))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def summary(report: Report) -> Group:
    flops = report.flops or {}
    tp = report.throughput or {}
    title = Text.assemble(("nnprof ", "bold"), (report.version, "dim"), "  ", (report.model, "bold"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    grid.add_row("device", f"{report.device}   dtype {report.dtype} (Tensor Core analysis)")
    grid.add_row("params", f"{human(report.params)} ({human(report.trainable_params)} trainable)")
    per_sample = flops.get("per_sample")
    flop_line = f"{human(flops.get('total'), 'FLOP')} per forward pass"
    if per_sample:
        flop_line += f", {human(per_sample, 'FLOP')} per sample"
    coverage = flops.get("coverage")
    flop_line += f"; 1 multiply-add = 2 FLOPs; coverage {coverage:.0%}" if coverage is not None else ""
    grid.add_row("FLOPs", flop_line)
    if flops.get("uncounted_ops"):
        grid.add_row("uncounted", ", ".join(flops["uncounted_ops"]))
    grid.add_row("step", _step_line(tp))
    return Group(title, grid, Text(""))


def _step_line(tp: dict[str, Any]) -> str:
    if tp.get("step_ms") is None:
        return f"not measured ({tp.get('skipped', 'throughput check not run')})"
    parts = [f"{tp['step_ms']:.1f} ms (forward + backward + optimizer)"]
    if tp.get("samples_per_s"):
        parts.append(f"{tp['samples_per_s']:,.0f} samples/s")
    if tp.get("tokens_per_s"):
        parts.append(f"{tp['tokens_per_s']:,.0f} tokens/s")
    parts.append(f"MFU {tp['mfu']:.1%}" if tp.get("mfu") is not None else "MFU n/a")
    return " · ".join(parts)


def top_modules(report: Report, top: int = 10) -> Table | None:
    rows = (report.flops or {}).get("by_module") or []
    if not rows:
        return None
    table = Table(title="Top modules by FLOPs (forward pass, each module's own operators)", title_justify="left",
                  box=box.SIMPLE_HEAD, title_style="bold", min_width=64)
    table.add_column("module", ratio=1)
    table.add_column("FLOPs", justify="right")
    table.add_column("share", justify="right")
    for row in rows[:top]:
        table.add_row(row["module"] or "(root)", human(row["flops"]), f"{row['share']:.1%}")
    if len(rows) > top:
        rest = sum(r["share"] for r in rows[top:])
        table.add_row(f"... {len(rows) - top} more", "", f"{rest:.1%}", style="dim")
    return table


def findings_view(report: Report) -> Group:
    shown = [f for f in report.sorted_findings() if not is_skip(f)]
    skipped = [f for f in report.findings if is_skip(f)]
    parts: list[Any] = []
    if not shown:
        parts.append(Text("No findings.", style="bold green"))
    for severity in ("error", "warning", "info"):
        group = [f for f in shown if f.severity == severity]
        if group:
            parts.append(_findings_table(severity, group))
    if skipped:
        names = ", ".join(f"{f.check} ({_skip_reason(f)})" for f in skipped)
        parts.append(Text(f"Skipped: {names}", style="dim"))
    counts = {s: sum(1 for f in shown if f.severity == s) for s in STYLES}
    parts.append(Text(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info",
                      style="bold"))
    return Group(*parts)


def is_skip(finding: Finding) -> bool:
    """A check that gave no verdict: an info finding "skipped (why): ..." (the runner's and the checks')."""
    return finding.severity == "info" and finding.message.startswith("skipped")


def _skip_reason(finding: Finding) -> str:
    if "skipped" in finding.details:
        return str(finding.details["skipped"])
    head = finding.message.split(")", 1)[0]
    return head.split("(", 1)[1] if "(" in head else "skipped"


def _findings_table(severity: str, findings: list[Finding]) -> Table:
    table = Table(title=f"{TITLES[severity]} ({len(findings)})", title_justify="left", title_style=STYLES[severity],
                  box=box.SIMPLE_HEAD, show_header=False, expand=True)
    table.add_column("check", no_wrap=True)
    table.add_column("finding", ratio=1)
    for f in findings:
        body = Text(f.message)
        fix = f.details.get("fix")
        if fix:
            body.append(f"\nfix: {fix}", style="green")
        label = Text(f.check, style=STYLES[severity])
        if f.module:
            label.append(f"\n{f.module}", style="dim")
        table.add_row(label, body)
    return table
