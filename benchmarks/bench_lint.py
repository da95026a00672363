"""nnlint speed and memory on real code, side by side with the floor of any libcst linter, in one run.

    python benchmarks/bench_lint.py [--corpus timm|transformers] [--repeat N] [--skip-jobs1]
                                    [--skip-paused-floor]

(a) a single-process loop of ``libcst.parse_module`` over the corpus files (the floor of any
libcst-based linter), and (a') the same loop with Python's cyclic garbage collector paused during
each parse, as nnlint pauses it while it lints a file (a stricter floor, printed for reference; the
target is against (a)); (b) ``nnlint`` cold (``--no-cache``, every rule including the default-off
ones, default --jobs) as a subprocess, and (b') the same with ``--jobs 1``; (c) ``nnlint`` warm (the
same rules, answered from a cache filled by a previous run); (d) TorchFix and Fixit when installed.
Prints seconds, ratios, CPU seconds and the peak memory of the whole process tree (the sum of the RSS
of nnlint and its workers, sampled every 20 ms), then each target with MET / NOT MET:

- timm 1.0.31 (issue 3, issue 8): cold <= 0.6x the parse loop; warm <= 1 s and <= 0.05x cold.
- transformers 5.23.0 (issue 8): cold <= 180 s; warm <= 5 s; peak memory <= 2 GiB.
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from corpora import python_files, wheel_tree  # noqa: E402

CORPORA = {"timm": ("timm", "1.0.31", "timm"), "transformers": ("transformers", "5.23.0", "transformers")}
# An installed tool runs from compiled bytecode; PYTHONDONTWRITEBYTECODE (set on some CI images) would
# make every run recompile nnlint's modules, which is not what users see.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def parse_loop(files: list[pathlib.Path], collector_paused: bool = False) -> tuple[float, float]:
    """Wall and CPU seconds of a single-process libcst.parse_module loop; with ``collector_paused``,
    Python's cyclic garbage collector is off during each parse, as nnlint has it while it lints a file."""
    import libcst

    start, cpu = time.perf_counter(), time.process_time()
    for path in files:
        if collector_paused:
            gc.disable()
        try:
            libcst.parse_module(path.read_bytes())
        except Exception:  # noqa: BLE001 - the floor counts whatever the parser does
            pass
        finally:
            gc.enable()
    return time.perf_counter() - start, time.process_time() - cpu


def _tree_rss_mib(root_pid: int) -> float:
    """Sum of the resident memory of ``root_pid`` and all its descendants (Linux /proc), in MiB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * _PAGE
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(pid, 0) for pid in tree) / 2**20


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (the command and its children) and peak tree memory (MiB)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_ENV)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_mib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if os.path.isdir("/proc"):
        sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    if proc.returncode not in (0, 1):
        print(f"  warning: {cmd[0]} exited {proc.returncode}: {err.strip()[-300:]}")
    return seconds, _children_cpu() - cpu, peak[0]


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="timm")
    parser.add_argument("--repeat", type=int, default=1, help="repeat each measurement, report the median")
    parser.add_argument("--skip-others", action="store_true", help="do not run TorchFix/Fixit even if installed")
    parser.add_argument("--skip-jobs1", action="store_true", help="do not time the single-process nnlint run")
    parser.add_argument("--skip-paused-floor", action="store_true",
                        help="do not time the parse loop with the garbage collector paused per file (a')")
    args = parser.parse_args()

    name, version, package = CORPORA[args.corpus]
    root = wheel_tree(name, version) / package
    files = python_files(root)
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"corpus: {name} {version}: {len(files)} files, {lines:,} lines; {os.cpu_count()} cores")

    nnlint = shutil.which("nnlint") or sys.exit("nnlint is not installed (pip install -e .)")
    subprocess.run([nnlint, "--version"], env=_ENV, stdout=subprocess.DEVNULL)  # writes the bytecode once
    cache_dir = tempfile.mkdtemp(prefix="nnlint-bench-cache-")
    every_rule = ["--select", ",".join(_all_codes())]
    base = [nnlint, str(root), "--exit-zero", *every_rule]

    def median(runs: list[tuple[float, ...]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    # Interleaved, so that a machine getting faster or slower during the run moves both sides alike.
    loops, paused, cold = [], [], []
    for _ in range(args.repeat):
        loops.append(parse_loop(files))
        cold.append(timed([*base, "--no-cache"]))
        if not args.skip_paused_floor:
            paused.append(parse_loop(files, collector_paused=True))
    ratios = sorted(c[0] / p[0] for p, c in zip(loops, cold, strict=True))
    parse_s, parse_cpu = median(loops, 0), median(loops, 1)
    cold_s, cold_cpu, cold_mem = median(cold, 0), median(cold, 1), max(r[2] for r in cold)
    print(f"(a)  libcst.parse_module loop, 1 process : {parse_s:8.2f} s   1.00x              (CPU {parse_cpu:.2f} s)")
    if paused:
        paused_s = median(paused, 0)
        print(f"(a') the same, collector off per parse  : {paused_s:8.2f} s   {paused_s / parse_s:.2f}x"
              f"              (nnlint cold = {cold_s / paused_s:.2f}x this stricter floor)")
    print(f"(b)  nnlint cold, every rule, --no-cache : {cold_s:8.2f} s   {cold_s / parse_s:.2f}x the parse loop"
          f"   (CPU {cold_cpu:.2f} s = {cold_cpu / parse_cpu:.2f}x; peak memory {cold_mem:.0f} MiB)")
    if args.repeat > 1:
        print(f"     cold / parse loop, each pair        : {', '.join(f'{r:.2f}x' for r in ratios)}")
    if not args.skip_jobs1:
        one = [timed([*base, "--no-cache", "--jobs", "1"]) for _ in range(args.repeat)]
        print(f"(b') nnlint cold, --jobs 1               : {median(one, 0):8.2f} s   "
              f"{median(one, 0) / parse_s:.2f}x the parse loop")
    timed([*base, "--cache-dir", cache_dir])  # fill the cache
    warm = [timed([*base, "--cache-dir", cache_dir]) for _ in range(max(args.repeat, 3))]
    warm_s, warm_mem = median(warm, 0), max(r[2] for r in warm)
    print(f"(c)  nnlint warm (cache filled)          : {warm_s:8.2f} s   {warm_s / parse_s:.3f}x the parse loop,"
          f" {warm_s / cold_s:.3f}x cold   (peak memory {warm_mem:.0f} MiB)")
    shutil.rmtree(cache_dir, ignore_errors=True)
    if not args.skip_others:
        for tool, cmd in (("torchfix", ["torchfix", str(root)]), ("fixit", ["fixit", "lint", str(root)])):
            if shutil.which(tool):
                seconds = timed(cmd)[0]
                print(f"(d)  {tool:<36}: {seconds:8.2f} s   {seconds / parse_s:.2f}x the parse loop")
            else:
                print(f"(d)  {tool:<36}:   not installed (pip install {tool}) - skipped")
    if args.corpus == "timm":
        print(f"target cold <= 0.6x parse loop : {_verdict(cold_s <= 0.6 * parse_s)} ({cold_s / parse_s:.2f}x)")
        print(f"target warm <= 1 s             : {_verdict(warm_s <= 1.0)} ({warm_s:.2f} s)")
        print(f"target warm <= 0.05x cold      : {_verdict(warm_s <= 0.05 * cold_s)} ({warm_s / cold_s:.3f}x)")
    else:
        print(f"target cold <= 180 s           : {_verdict(cold_s <= 180)} ({cold_s:.1f} s)")
        print(f"target warm <= 5 s             : {_verdict(warm_s <= 5)} ({warm_s:.2f} s)")
        print(f"target peak memory <= 2 GiB    : {_verdict(max(cold_mem, warm_mem) <= 2048)} "
              f"({max(cold_mem, warm_mem):.0f} MiB)")


def _all_codes() -> list[str]:
    from nnlint.registry import all_rules

    return [rule.code for rule in all_rules()]  # default-off rules included


if __name__ == "__main__":
    main()
