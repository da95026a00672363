"""``--format json``: the contract's shape, ``{"version", "findings", "summary"}``."""

from __future__ import annotations

import json

from nnlint import __version__
from nnlint.output import LintReport


def render(report: LintReport) -> str:
    data = {
        "version": __version__,
        "findings": [f.to_dict() for f in report.findings],
        "summary": {
            "files": report.files,
            "findings": len(report.findings),
            "seconds": round(report.seconds, 3),
            "fixed": report.fixed,
            "internal_errors": [{"path": e.path, "rule": e.rule, "message": e.message} for e in report.errors],
        },
    }
    return json.dumps(data, indent=2) + "\n"
