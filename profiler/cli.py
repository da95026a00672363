"""The ``nnprof`` command line (see ../shared/contract.md for the flags, JSON fields and exit codes).

Exit status: 0 no warning or error; 1 at least one warning or error; 2 the model could not be loaded,
or a usage error (one line on stderr, no traceback unless ``--verbose``).

This module imports only click at import time: torch and fvcore are imported when a model is profiled,
so that a missing ``[prof]`` extra gives one line with the install command instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import traceback
from typing import Any

import click

from nnprof import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
INSTALL_HINT = "pip install 'nnlint[prof]'"


def fail(message: str, *, exc: BaseException | None = None, verbose: bool = False) -> None:
    """One line on stderr (plus the traceback with ``--verbose``), exit 2."""
    if verbose and exc is not None:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    click.echo(f"nnprof: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _ids(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _missing_dependency() -> str | None:
    for name in ("torch", "fvcore"):
        try:
            __import__(name)
        except ImportError:
            return name
    return None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "meta"]), default="auto", show_default=True,
              help="where to run: auto is cuda when available, else cpu; meta analyses shapes and FLOPs without weights")
@click.option("--dtype", type=click.Choice(["bfloat16", "float16", "float32"]), default="bfloat16", show_default=True,
              help="the precision the model will train in on a GPU (judges Tensor Core alignment; autocast on cuda)")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="resize the example input and batch to N samples (default: the file's)")
@click.option("--checks", default=None, metavar="IDS", help="comma-separated check ids to run (default: every default check)")
@click.option("--skip", default=None, metavar="IDS", help="comma-separated check ids not to run")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write the report to FILE instead of stdout")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--verbose", "-v", is_flag=True, help="tracebacks for errors in the model's code")
@click.version_option(__version__, prog_name="nnprof", message="%(prog)s %(version)s")
def main(model: str, device: str, dtype: str, batch_size: int | None, checks: str | None, skip: str | None,
         fmt: str, output: str | None, seed: int, verbose: bool) -> None:
    """Profile and health-check the PyTorch model in MODEL (a .py file or package.module:factory)."""
    missing = _missing_dependency()
    if missing is not None:
        click.echo(f"nnprof: error: {missing} is not installed; install the profiler with: {INSTALL_HINT}", err=True)
        sys.exit(EXIT_ERROR)
    if fmt == "html" and importlib.util.find_spec("nnprof.render.html") is None:
        fail("the HTML renderer (nnprof.render.html) is not available; use --format text or json")

    import torch

    from nnprof.loading import ModelLoadError, load_model
    from nnprof.runner import resolve_device, select_checks

    try:
        select_checks(_ids(checks), _ids(skip) or ())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if device == "cuda" and not torch.cuda.is_available():
        raise click.UsageError("--device cuda: no CUDA device is available")
    _quiet_progress(fmt, output)

    dev = resolve_device(device)
    try:
        loaded = load_model(model, device=dev, seed=seed)
    except ModelLoadError as exc:
        fail(str(exc), exc=exc.__cause__ or exc, verbose=verbose)
    report = _profile(loaded, model, dev, dtype, batch_size, checks, skip, seed, verbose)
    text = _render(report, fmt, color=output is None and sys.stdout.isatty())
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_FINDINGS if report.exit_code else EXIT_CLEAN)


def _profile(loaded: Any, model: str, device: Any, dtype: str, batch_size: int | None, checks: str | None,
             skip: str | None, seed: int, verbose: bool) -> Any:
    from nnprof.runner import run_profile

    try:
        return run_profile(loaded, device=device, dtype=dtype, batch_size=batch_size, checks=_ids(checks),
                           skip=_ids(skip) or (), seed=seed)
    except Exception as exc:  # the model's code failed outside a check (e.g. while counting FLOPs)
        message = " ".join(str(exc).split())[:400]
        fail(f"{model}: profiling failed: {type(exc).__name__}: {message}", exc=exc, verbose=verbose)


def _render(report: Any, fmt: str, *, color: bool) -> str:
    if fmt == "json":
        from nnprof.render.json import render_json

        return render_json(report)
    if fmt == "html":
        from nnprof.render.html import render_html

        return render_html(report)
    from nnprof.render.text import render_text

    width = min(shutil.get_terminal_size((110, 24)).columns, 140) if color else 110
    return render_text(report, color=color, width=width)


def _quiet_progress(fmt: str, output: str | None) -> None:
    """Progress bars only for text going to a terminal."""
    try:
        from nnprof import progress
    except ImportError:
        return
    progress.set_enabled(fmt == "text" and not output)


if __name__ == "__main__":
    main()
