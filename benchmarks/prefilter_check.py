"""The prefilters only save time: findings with them equal findings without them, on real code.

    python benchmarks/prefilter_check.py [--corpus timm|transformers] [--jobs N]

For every file of the corpus, lints with every rule twice: as nnlint does (file-level ``requires`` /
``applies_to`` text checks, and blanking of top-level defs/classes no active rule's words touch), and
with every prefilter off (every rule runs, the whole file is parsed). Prints the files and findings of
each, and every finding that differs; exits 1 if any does.
"""

from __future__ import annotations

import argparse
import functools
import os
import pathlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from corpora import python_files, wheel_tree  # noqa: E402

CORPORA = {"timm": ("timm", "1.0.31", "timm"), "transformers": ("transformers", "5.23.0", "transformers")}


@functools.cache
def _rule_sets() -> tuple[list, list]:
    """Every rule as nnlint runs it, and the same rules with their file prefilter switched off."""
    from nnlint.registry import all_rules

    rules = all_rules()
    unfiltered = [type(r.__name__, (r,), {"applies_to": classmethod(lambda cls, text: True)}) for r in rules]
    return rules, unfiltered


def _both(path: str) -> tuple[str, list[tuple], list[tuple]]:
    from nnlint.engine import lint_source

    rules, unfiltered = _rule_sets()
    data = pathlib.Path(path).read_bytes()
    fast = lint_source(path, data, rules)
    slow = lint_source(path, data, unfiltered, chunking=False)

    def keys(result) -> list[tuple]:
        return sorted((f.line, f.column, f.code, f.message) for f in result.findings)

    return path, keys(fast), keys(slow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="timm")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    name, version, package = CORPORA[args.corpus]
    files = [str(p) for p in python_files(wheel_tree(name, version) / package)]
    start = time.perf_counter()
    differ = total_fast = total_slow = 0
    with ProcessPoolExecutor(args.jobs) as pool:
        for path, fast, slow in pool.map(_both, files, chunksize=4):
            total_fast += len(fast)
            total_slow += len(slow)
            for key in sorted(set(fast) ^ set(slow)):
                differ += 1
                side = "only with prefilters" if key in fast else "only without prefilters"
                print(f"{path}:{key[0]}:{key[1]}: {key[2]} {side}: {key[3]}")
    print(f"{name} {version}: {len(files)} files; findings with prefilters {total_fast}, without {total_slow}; "
          f"{differ} differ ({time.perf_counter() - start:.0f} s)")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
