"""Property-based fuzzing of every rule (and of --fix) with hypothesmith-generated programs.

    python benchmarks/fuzz_rules.py [--examples 5000] [--fix]

Generates programs from Python's grammar (``from_grammar``) and from libcst nodes (``from_node``), lints
each with every rule (default-off rules included), and fails on any internal error. With ``--fix`` it
also applies every fix (unsafe included) and checks that the result re-parses and that a second round
finds nothing more to fix. Prints counts at the end.
"""

from __future__ import annotations

import argparse
import sys
import time

import hypothesmith
import libcst as cst
from hypothesis import HealthCheck, given, settings

from nnlint.engine import lint_source
from nnlint.fixes import apply_fixes
from nnlint.registry import all_rules

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=5000, help="programs per strategy (two strategies)")
    parser.add_argument("--fix", action="store_true", help="also apply every fix and verify it")
    parser.add_argument("--strategy", choices=("both", "from_grammar", "from_node"), default="both")
    args = parser.parse_args()
    rules = all_rules()
    stats = {"programs": 0, "findings": 0, "fixed": 0, "errors": 0, "syntax": 0}
    failures: list[str] = []

    def check(source: str) -> None:
        stats["programs"] += 1
        result = lint_source("fuzz.py", source, rules, chunking=False)
        stats["findings"] += len(result.findings)
        stats["syntax"] += sum(f.code == "NN000" for f in result.findings)
        if result.errors:
            stats["errors"] += 1
            failures.append(f"{result.errors[0].rule}: {result.errors[0].message}\n{source}")
        if args.fix and any(f.fix for f in result.findings):
            fixed, applied = apply_fixes(source, result.findings, unsafe=True)
            if applied:
                stats["fixed"] += 1
                try:
                    cst.parse_module(fixed)
                except cst.ParserSyntaxError as exc:
                    failures.append(f"fix made unparseable code ({exc.message}):\n{source}\n---\n{fixed}")
                    return
                again = lint_source("fuzz.py", fixed, rules, chunking=False)
                if again.errors:
                    failures.append(f"rule error after fix: {again.errors[0]}\n{fixed}")

    strategies = (
        ("from_grammar", hypothesmith.from_grammar()),
        ("from_node", hypothesmith.from_node().map(lambda source: HEADER + source)),
    )
    for name, strategy in strategies:
        if args.strategy not in ("both", name):
            continue
        started = time.perf_counter()
        before = dict(stats)

        @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(source=strategy)
        def run(source: str) -> None:
            check(source)

        run()
        done = {key: stats[key] - before[key] for key in stats}
        print(
            f"{name}: {done['programs']} programs in {time.perf_counter() - started:.1f} s; findings "
            f"{done['findings']} (NN000 {done['syntax']}), files fixed {done['fixed']}, programs with an internal "
            f"error {done['errors']}",
            flush=True,
        )

    print(
        f"programs {stats['programs']}, findings {stats['findings']} (NN000 {stats['syntax']}), "
        f"files fixed {stats['fixed']}, programs with an internal error {stats['errors']}"
    )
    for failure in failures[:5]:
        print("FAILURE:", failure[:2000], sep="\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
