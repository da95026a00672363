"""The report as JSON, exactly the contract's fields (``Report.to_dict``)."""

from __future__ import annotations

from nnprof.report import Report


def render_json(report: Report, *, indent: int | None = 2) -> str:
    """The report as a JSON document (ends with a newline)."""
    return report.to_json(indent=indent) + "\n"
