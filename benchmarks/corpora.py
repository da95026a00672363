"""Fetch and unpack the real-code corpora the benchmarks use (wheels from the package index)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import zipfile

CACHE = pathlib.Path(os.environ.get("NNLINT_BENCH_CACHE", pathlib.Path.home() / ".cache" / "nnlint-bench"))


def wheel_tree(name: str, version: str) -> pathlib.Path:
    """Download ``name==version`` (no deps) once and return the unpacked folder."""
    target = CACHE / f"{name}-{version}"
    marker = target / ".unpacked"
    if marker.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", f"{name}=={version}", "-d", str(CACHE)],
        check=True,
    )
    wheels = sorted(CACHE.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise SystemExit(f"no wheel for {name}=={version} in {CACHE}")
    with zipfile.ZipFile(wheels[0]) as archive:
        archive.extractall(target)
    marker.touch()
    return target


def python_files(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in root.rglob("*.py") if p.is_file())
