"""The finding record shared by every check and every renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "error"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One result of one check: a stable check id, a severity, the module it concerns, numbers."""

    check: str
    severity: Severity
    module: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "module": self.module,
            "message": self.message,
            "details": dict(self.details),
        }
