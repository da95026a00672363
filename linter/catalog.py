"""What the CLI needs to know about the rules before linting, remembered in the cache directory.

Selecting rules, checking configuration and keying the result cache need only each rule's code, name,
default state and options. Importing the rules loads libcst, which costs about 0.2 s, more than the
rest of a run that the cache answers. So after a run that imported them, their descriptions are
written next to the results, under a fingerprint of nnlint's own files (version, and the size and
modification time of every module); a later run reads that instead, and imports the rules only when
some file has to be linted. A changed or unreadable catalog is ignored, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any

from nnlint import __version__

_FILE = "rules-{}.json"


@dataclass(frozen=True)
class RuleInfo:
    """A rule's description: the attributes selection, validation and the cache key read."""

    code: str
    name: str
    message: str
    severity: str
    default_enabled: bool
    fixable: bool
    module: str
    version: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rule: Any) -> RuleInfo:
        return cls(
            rule.code,
            rule.name,
            rule.message,
            rule.severity,
            bool(rule.default_enabled),
            bool(rule.fixable),
            module_of(rule),
            str(getattr(rule, "version", "")),
            dict(rule.options),
        )


def module_of(rule: Any) -> str:
    return rule.module if isinstance(rule, RuleInfo) else getattr(rule, "__module__", "")


def fingerprint() -> str | None:
    """Version plus size and mtime of every module of nnlint and its rules; None if unreadable."""
    digest = hashlib.sha256(f"nnlint {__version__}".encode())
    for package in ("nnlint", "nnlint.rules"):
        spec = find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        for folder in spec.submodule_search_locations:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return None
            for entry in entries:
                if entry.name.endswith(".py") or (entry.is_dir() and not entry.name.startswith((".", "__"))):
                    stat = entry.stat()
                    digest.update(f"{package}/{entry.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
                    if entry.is_dir():
                        for sub in sorted(os.scandir(entry.path), key=lambda e: e.name):
                            if sub.name.endswith(".py"):
                                sub_stat = sub.stat()
                                digest.update(f"{entry.name}/{sub.name}:{sub_stat.st_size}:{sub_stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def load_catalog(cache_dir: str) -> list[RuleInfo] | None:
    """The rule descriptions stored for this exact nnlint, or None."""
    key = fingerprint()
    if key is None:
        return None
    try:
        with open(os.path.join(cache_dir, _FILE.format(key)), encoding="utf-8") as handle:
            raw = json.load(handle)
        if raw.get("fingerprint") != key:
            return None
        return [RuleInfo(**entry) for entry in raw["rules"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store_catalog(cache_dir: str, rules: Sequence[Any]) -> None:
    """Remember ``rules`` (the classes just imported) for later runs; silently skips what it cannot."""
    key = fingerprint()
    if key is None:
        return
    try:
        infos = [RuleInfo.of(rule) for rule in rules]
        records = [info.__dict__ for info in infos]
        text = json.dumps({"fingerprint": key, "rules": records})
        if [RuleInfo(**r) for r in json.loads(text)["rules"]] != infos:
            return  # an option default that JSON cannot carry exactly (a tuple, say): keep importing
        from nnlint.cache import prepare_cache_dir

        prepare_cache_dir(cache_dir)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        target = os.path.join(cache_dir, _FILE.format(key))
        os.replace(tmp, target)
        for name in os.listdir(cache_dir):  # catalogs of other nnlint builds are of no further use
            if name.startswith("rules-") and name.endswith(".json") and name != os.path.basename(target):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(cache_dir, name))
    except (OSError, TypeError, ValueError):
        pass
