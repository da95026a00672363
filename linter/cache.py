"""Content-hash result cache: file bytes + path + rule set + rule options + nnlint version -> findings.

Entries are written atomically (temp file + rename), so concurrent runs never see half an entry; an entry
that does not decode or does not match the expected shape is ignored, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nnlint import __version__
from nnlint.catalog import module_of
from nnlint.finding import Edit, Finding, Fix
from nnlint.results import FileResult

if TYPE_CHECKING:
    from nnlint.rule import Rule

DEFAULT_DIR = ".nnlint_cache"
_FORMAT = 1


def rules_signature(rules: Sequence[type[Rule]], options: Mapping[str, Mapping[str, Any]]) -> str:
    parts = [f"nnlint {__version__} format {_FORMAT}"]
    for rule in sorted(rules, key=lambda r: r.code):
        module = module_of(rule)
        parts.append(f"{rule.code}:{rule.name}:{module}:{getattr(rule, 'version', '')}")
        if rule.code in options:
            parts.append(json.dumps(options[rule.code], sort_keys=True, default=str))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class ResultCache:
    def __init__(self, directory: str, signature: str) -> None:
        self.directory = directory
        self.signature = signature
        self._ready = False

    def key(self, path: str, data: bytes) -> str:
        digest = hashlib.sha256()
        digest.update(self.signature.encode())
        digest.update(b"\0" + os.path.normpath(path).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(data)
        return digest.hexdigest()

    def _file(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key[2:] + ".json")

    def get(self, path: str, key: str) -> FileResult | None:
        try:
            with open(self._file(key), encoding="utf-8") as handle:
                raw = json.load(handle)
            if raw.get("key") != key:
                return None
            return FileResult(path, [_finding(path, f) for f in raw["findings"]])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, result: FileResult) -> None:
        if result.errors:
            return  # an internal error is worth retrying next time
        try:
            self._prepare()
            target = self._file(key)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            payload = {"key": key, "findings": [_record(f) for f in result.findings]}
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, separators=(",", ":"))
            os.replace(tmp, target)
        except OSError:
            pass  # a read-only or full disk must not fail the lint

    def _prepare(self) -> None:
        if not self._ready:
            prepare_cache_dir(self.directory)
            self._ready = True


def prepare_cache_dir(directory: str) -> None:
    """Create the cache directory with a ``.gitignore`` that keeps it out of version control."""
    os.makedirs(directory, exist_ok=True)
    ignore = os.path.join(directory, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w", encoding="utf-8") as handle:
            handle.write("# Created by nnlint automatically.\n*\n")


def _record(f: Finding) -> dict[str, Any]:
    data = f.to_dict()
    del data["path"]
    return data


def _finding(path: str, d: dict[str, Any]) -> Finding:
    fix = None
    if d.get("fix"):
        fx = d["fix"]
        edits = tuple(Edit(e["line"], e["column"], e["end_line"], e["end_column"], e["content"]) for e in fx["edits"])
        fix = Fix(fx["applicability"], edits, fx.get("description", ""))
    return Finding(
        path, int(d["line"]), int(d["column"]), int(d["end_line"]), int(d["end_column"]), str(d["code"]), str(d["name"]),
        str(d["message"]), d.get("severity", "warning"), fix,
    )
