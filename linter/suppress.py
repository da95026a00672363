"""Inline suppressions: ``# noqa``, ``# noqa: NN101``, ``# nnlint: ignore[NN101]`` (on the line or the
line above) and ``# nnlint: ignore-file`` / ``# nnlint: ignore-file[NN401]`` anywhere in a file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_IGNORE = re.compile(r"#\s*nnlint:\s*ignore(?P<file>-file)?(?:\[(?P<codes>[^\]]*)\])?")
ALL = "*"


def _codes(text: str | None) -> set[str]:
    if not text:
        return {ALL}
    return {c.strip().upper() for c in re.split(r"[\s,]+", text) if c.strip()}


@dataclass
class Suppressions:
    by_line: dict[int, set[str]] = field(default_factory=dict)
    file_codes: set[str] = field(default_factory=set)

    def suppresses(self, code: str, line: int) -> bool:
        if _matches(self.file_codes, code):
            return True
        return _matches(self.by_line.get(line, ()), code)


def _matches(codes: set[str] | tuple, code: str) -> bool:
    return any(c == ALL or code == c or code.startswith(c) for c in codes)


def parse_suppressions(source: str) -> Suppressions:
    result = Suppressions()
    if "noqa" not in source and "nnlint:" not in source:
        return result
    for number, line in enumerate(source.splitlines(), start=1):
        if "#" not in line:
            continue
        match = _NOQA.search(line)
        if match:
            result.by_line.setdefault(number, set()).update(_codes(match.group("codes")))
        for match in _IGNORE.finditer(line):
            codes = _codes(match.group("codes"))
            if match.group("file"):
                result.file_codes.update(codes)
            else:
                result.by_line.setdefault(number, set()).update(codes)
                # A comment alone on its line also covers the next line.
                if line.lstrip().startswith("#"):
                    result.by_line.setdefault(number + 1, set()).update(codes)
    return result
