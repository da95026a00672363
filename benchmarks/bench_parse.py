"""nnlint's parser against libcst's own, side by side in one run, on the same files.

    python benchmarks/bench_parse.py [--corpus timm|transformers] [--repeat N]

Times ``libcst.parse_module`` and ``nnlint.parsing.parse_module_unvalidated`` (no validation pass,
shared whitespace and punctuation nodes) over every file of the corpus, the two loops alternating,
with the cyclic garbage collector paused as nnlint pauses it. First checks that both give deep-equal
trees that print back the file's exact text and give every node that is not a shared token the same
line/column range; prints the seconds of each round and the median ratio.
"""

from __future__ import annotations

import argparse
import gc
import pathlib
import statistics
import sys
import time

import libcst as cst

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from corpora import python_files, wheel_tree  # noqa: E402

from nnlint.parsing import parse_module_unvalidated, same_positions  # noqa: E402

CORPORA = {"timm": ("timm", "1.0.31", "timm"), "transformers": ("transformers", "5.23.0", "transformers")}


def timed_loop(parse, sources: list[str]) -> float:
    start = time.perf_counter()
    for source in sources:
        gc.disable()
        try:
            parse(source)
        finally:
            gc.enable()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="timm")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    package, version, subdir = CORPORA[args.corpus]
    files = python_files(wheel_tree(package, version) / subdir)
    sources = []
    for path in files:
        try:
            sources.append(pathlib.Path(path).read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue
    differ = 0
    for source in sources:
        try:
            reference = cst.parse_module(source)
        except cst.ParserSyntaxError:
            continue
        ours = parse_module_unvalidated(source)
        if ours.code != source or not ours.deep_equals(reference) or not same_positions(ours, reference):
            differ += 1
    print(f"{args.corpus} {version}: {len(sources)} files; trees that differ from libcst's: {differ}")
    ratios = []
    for round_ in range(1, args.repeat + 1):
        plain = timed_loop(cst.parse_module, sources)
        ours = timed_loop(parse_module_unvalidated, sources)
        ratios.append(ours / plain)
        print(f"round {round_}: libcst.parse_module {plain:6.2f} s   nnlint's parser {ours:6.2f} s   = {ours / plain:.3f}x")
    print(f"median: nnlint's parser = {statistics.median(ratios):.3f}x libcst.parse_module")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
