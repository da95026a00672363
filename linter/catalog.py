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
        for root in spec.submodule_search_locations:
            try:
                for folder, dirs, files in os.walk(root, onerror=_raise):
                    dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
                    for name in sorted(f for f in files if f.endswith(".py")):
                        path = os.path.join(folder, name)
                        stat = os.stat(path)
                        line = f"{package}:{os.path.relpath(path, root)}:{stat.st_size}:{stat.st_mtime_ns}\n"
                        digest.update(line.encode())
            except OSError:
                return None
    return digest.hexdigest()[:32]


def _raise(error: OSError) -> None:
    raise error


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
