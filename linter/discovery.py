"""Which files to lint: directories recurse into *.py/*.pyi; files named explicitly are always linted."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".env", "env", ".tox", ".nox", "build",
        "dist", "site-packages", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".nnlint_cache",
        "node_modules", ".eggs",
    }
)
SUFFIXES = (".py", ".pyi")


@dataclass(frozen=True)
class Target:
    path: str  # as shown to the user (relative stays relative)
    explicit: bool


class MissingPathError(FileNotFoundError):
    pass


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def is_excluded(path: str, patterns: Sequence[str], root: str) -> bool:
    if not patterns:
        return False
    norm = os.path.normpath(path)
    rel = os.path.relpath(os.path.abspath(path), root) if root else norm
    candidates = {norm, rel, os.path.basename(norm)}
    parts = rel.split(os.sep)
    candidates.update(os.sep.join(parts[: i + 1]) for i in range(len(parts)))
    for pattern in patterns:
        pat = pattern.rstrip("/")
        if any(fnmatch.fnmatch(c, pat) for c in candidates):
            return True
    return False


def discover(paths: Iterable[str], exclude: Sequence[str] = (), root: str = "") -> list[Target]:
    """Expand paths into files. Raises MissingPathError for a path that does not exist."""
    targets: list[Target] = []
    seen: set[str] = set()
    for path in paths:
        if not os.path.lexists(path):
            raise MissingPathError(path)
        if not os.path.isdir(path):
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                targets.append(Target(path, explicit=True))
            continue
        visited_dirs: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in visited_dirs:  # a symlink loop
                dirnames[:] = []
                continue
            visited_dirs.add(real)
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in SKIPPED_DIRS
                and not d.endswith(".egg-info")
                and not _is_virtualenv(os.path.join(dirpath, d))
                and not is_excluded(os.path.join(dirpath, d), exclude, root)
            )
            for name in sorted(filenames):
                if not name.endswith(SUFFIXES):
                    continue
                full = os.path.normpath(os.path.join(dirpath, name))
                if is_excluded(full, exclude, root):
                    continue
                key = os.path.realpath(full)
                if key in seen:
                    continue
                seen.add(key)
                targets.append(Target(full, explicit=False))
    return targets
