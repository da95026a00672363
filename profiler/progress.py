"""A progress bar for long checks: a rich bar on a TTY, nothing otherwise.

Checks never print; a check that loops for a while wraps its loop::

    with progress_bar("overfit-batch", total=300, ctx=ctx) as advance:
        for step in range(300):
            ...
            advance()

The bar goes to stderr, only when stderr is a terminal, and disappears when done. The CLI turns it off
for machine-readable output with ``set_enabled(False)`` (``--format json``); a run can also turn it off
through ``ctx.options["progress"] = False`` or the environment variable ``NNPROF_PROGRESS=0``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

_enabled = True


def set_enabled(flag: bool) -> None:
    """Turn progress bars on or off for this process (the CLI turns them off in JSON mode)."""
    global _enabled
    _enabled = bool(flag)


def is_enabled(ctx: Any = None) -> bool:
    """Whether a bar would show: enabled, not turned off by ``ctx.options``/env, and stderr a TTY."""
    if not _enabled or os.environ.get("NNPROF_PROGRESS", "1") in ("0", "false", "no"):
        return False
    options = getattr(ctx, "options", None) or {}
    if options.get("progress") is False:
        return False
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def _noop() -> None:
    return None


@contextlib.contextmanager
def progress_bar(description: str, total: int, ctx: Any = None) -> Iterator[Callable[[], None]]:
    """Yield ``advance()``; shows a transient rich bar on stderr when ``is_enabled(ctx)``."""
    if not is_enabled(ctx):
        yield _noop
        return
    from rich.console import Console
    from rich.errors import LiveError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    try:
        bar.start()
    except LiveError:  # another bar is live (nested checks): stay quiet
        yield _noop
        return
    task = bar.add_task(description, total=total)
    try:
        yield lambda: bar.advance(task)
    finally:
        bar.stop()
