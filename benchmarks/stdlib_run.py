"""Never crash: lint the running interpreter's whole standard library with every rule.

    python benchmarks/stdlib_run.py [--jobs N]

Runs ``nnlint`` on ``sysconfig.get_paths()["stdlib"]`` (its test files with deliberately bad syntax and
encodings included) with every rule, JSON output, no cache. Prints the files, findings per code, every
NN000 (a file that cannot be parsed) and every internal error; exits 1 on an internal error or a crash.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import sysconfig
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    from nnlint.registry import all_rules

    stdlib = sysconfig.get_paths()["stdlib"]
    every_rule = ",".join(rule.code for rule in all_rules())
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "nnlint.cli", stdlib, "--select", every_rule, "--no-cache", "--format", "json",
               "--output-file", out.name, "--exit-zero"]
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        report = json.loads(open(out.name, encoding="utf-8").read() or "{}")
    findings = report.get("findings", [])
    internal = [line for line in proc.stderr.splitlines() if "internal error" in line]
    counts = collections.Counter(f["code"] for f in findings)
    files = report.get("summary", {}).get("files", "?")
    print(f"{stdlib}: {files} files in {seconds:.0f} s, exit {proc.returncode}; findings {len(findings)} {dict(counts)}")
    print(f"internal errors: {len(internal)}")
    for line in internal[:20]:
        print("  ", line)
    for f in findings:
        if f["code"] == "NN000":
            print(f"  NN000 {f['path'][len(stdlib) + 1:]}:{f['line']}: {f['message']}")
    crashed = proc.returncode not in (0, 1) and not internal
    if crashed:
        print(proc.stderr[-2000:])
    sys.exit(1 if internal or crashed else 0)


if __name__ == "__main__":
    main()
