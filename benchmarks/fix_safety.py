"""Autofix safety on real code: ``nnlint --fix --unsafe-fixes`` over a copy of a wheel's sources.

    python benchmarks/fix_safety.py [--corpus timm|transformers]

Every rule is selected (default-off ones included). Checks that every file still parses after the fixes, that a second run changes nothing, and prints how
many files and fixes were involved.
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import shutil
import subprocess
import sys
import tempfile

import libcst

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from corpora import python_files, wheel_tree  # noqa: E402

CORPORA = {"timm": ("timm", "1.0.31", "timm"), "transformers": ("transformers", "5.23.0", "transformers")}


def digest(files: list[pathlib.Path]) -> dict[pathlib.Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="timm")
    args = parser.parse_args()
    name, version, sub = CORPORA[args.corpus]
    with tempfile.TemporaryDirectory(prefix="nnlint-fix-") as tmp:
        work = pathlib.Path(tmp) / "src"
        shutil.copytree(wheel_tree(name, version) / sub, work)
        files = python_files(work)
        before = digest(files)
        from nnlint.registry import all_rules

        every_rule = ",".join(rule.code for rule in all_rules())  # default-off rules included
        cmd = ["nnlint", str(work), "--select", every_rule, "--no-cache", "--exit-zero", "--fix", "--unsafe-fixes"]
        first = subprocess.run(cmd, capture_output=True, text=True)
        after = digest(files)
        changed = [p for p in files if before[p] != after[p]]
        broken = []
        for path in changed:
            try:
                libcst.parse_module(path.read_bytes())
            except libcst.ParserSyntaxError:
                broken.append(path)
        second = subprocess.run(cmd, capture_output=True, text=True)
        again = [p for p in files if digest([p])[p] != after[p]]
        refused = [line for line in first.stderr.splitlines() if "fix not applied" in line]
        print(f"{name} {version}: {len(files)} files; first --fix changed {len(changed)} files "
              f"({first.stdout.strip().splitlines()[-1] if first.stdout.strip() else ''})")
        print(f"  files that no longer parse: {len(broken)}")
        print(f"  files the second --fix changed again: {len(again)}")
        print(f"  fixes refused and left untouched: {len(refused)}")
        for line in refused[:10]:
            print("   ", line)
        if second.returncode not in (0, 1):
            print("  second run failed:", second.stderr[-500:])
        sys.exit(1 if broken or again else 0)


if __name__ == "__main__":
    main()
