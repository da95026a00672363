"""nnlint speed on real code, side by side with the floor of any libcst linter, in one run.

    python benchmarks/bench_lint.py [--corpus timm|transformers] [--repeat N]

(a) a single-process loop of ``libcst.parse_module`` over the corpus files; (b) ``nnlint`` cold
(``--no-cache``, all rules, default --jobs) as a subprocess; (c) ``nnlint`` warm (cache filled by a
previous run) when the cache exists; (d) TorchFix and Fixit when installed. Prints seconds and ratios.
Target on the 2-core machine: nnlint cold <= 0.6x the parse loop.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from corpora import python_files, wheel_tree  # noqa: E402

CORPORA = {"timm": ("timm", "1.0.31", "timm"), "transformers": ("transformers", "5.23.0", "transformers")}


def parse_loop(files: list[pathlib.Path]) -> tuple[float, float]:
    """Wall and CPU seconds of a single-process libcst.parse_module loop."""
    import libcst

    start, cpu = time.perf_counter(), time.process_time()
    for path in files:
        try:
            libcst.parse_module(path.read_bytes())
        except Exception:  # noqa: BLE001 - the floor counts whatever the parser does
            pass
    return time.perf_counter() - start, time.process_time() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: pathlib.Path | None = None) -> tuple[float, int, float, float]:
    """Wall seconds, exit code, peak RSS (MiB) and CPU seconds of the command and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    if proc.returncode not in (0, 1):
        print(f"  warning: {cmd[0]} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return seconds, proc.returncode, peak, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="timm")
    parser.add_argument("--repeat", type=int, default=1, help="repeat each measurement, report the median")
    parser.add_argument("--skip-others", action="store_true", help="do not run TorchFix/Fixit even if installed")
    args = parser.parse_args()

    name, version, package = CORPORA[args.corpus]
    root = wheel_tree(name, version) / package
    files = python_files(root)
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"corpus: {name} {version}: {len(files)} files, {lines:,} lines; {os.cpu_count()} cores")

    nnlint = shutil.which("nnlint") or sys.exit("nnlint is not installed (pip install -e .)")
    cache_dir = tempfile.mkdtemp(prefix="nnlint-bench-cache-")
    env_cache = ["--cache-dir", cache_dir] if _has_cache_dir_flag(nnlint) else []

    def median(fn):
        return statistics.median(fn() for _ in range(args.repeat))

    loops = [parse_loop(files) for _ in range(args.repeat)]
    parse_s, parse_cpu = statistics.median(x[0] for x in loops), statistics.median(x[1] for x in loops)
    every_rule = ["--select", ",".join(_all_codes())]
    cold = [timed([nnlint, str(root), "--no-cache", "--exit-zero", *every_rule]) for _ in range(args.repeat)]
    cold_s, cold_cpu = statistics.median(c[0] for c in cold), statistics.median(c[3] for c in cold)
    cold_peak = max(c[2] for c in cold)
    one = [timed([nnlint, str(root), "--no-cache", "--exit-zero", "--jobs", "1", *every_rule]) for _ in range(args.repeat)]
    one_s = statistics.median(c[0] for c in one)
    print(f"(a) libcst.parse_module loop, 1 process : {parse_s:8.2f} s   1.00x          (CPU {parse_cpu:.2f} s)")
    print(f"(b) nnlint cold, every rule, --no-cache : {cold_s:8.2f} s   {cold_s / parse_s:.2f}x the parse loop"
          f"   (CPU {cold_cpu:.2f} s = {cold_cpu / parse_cpu:.2f}x; peak RSS {cold_peak:.0f} MiB)")
    print(f"(b') nnlint cold, --jobs 1              : {one_s:8.2f} s   {one_s / parse_s:.2f}x the parse loop")
    if env_cache:
        timed([nnlint, str(root), "--exit-zero", "--select", "NN", *env_cache])  # fill the cache
        warm_s = statistics.median(
            timed([nnlint, str(root), "--exit-zero", "--select", "NN", *env_cache])[0] for _ in range(max(args.repeat, 3))
        )
        print(f"(c) nnlint warm (cache filled)          : {warm_s:8.2f} s   {warm_s / parse_s:.3f}x the parse loop,"
              f" {warm_s / cold_s:.3f}x cold")
    shutil.rmtree(cache_dir, ignore_errors=True)
    if not args.skip_others:
        for tool, cmd in (("torchfix", ["torchfix", str(root)]), ("fixit", ["fixit", "lint", str(root)])):
            if shutil.which(tool):
                seconds = timed(cmd)[0]
                print(f"(d) {tool:<36}: {seconds:8.2f} s   {seconds / parse_s:.2f}x the parse loop")
            else:
                print(f"(d) {tool:<36}:   not installed (pip install {tool}) - skipped")
    verdict = "MET" if cold_s <= 0.6 * parse_s else "NOT MET"
    print(f"target nnlint cold <= 0.6x parse loop: {verdict} ({cold_s / parse_s:.2f}x)")


def _all_codes() -> list[str]:
    from nnlint.registry import all_rules

    return [rule.code for rule in all_rules()]  # default-off rules included


def _has_cache_dir_flag(exe: str) -> bool:
    out = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
    return "--cache-dir" in out


if __name__ == "__main__":
    main()
