"""A progress bar on stderr for long runs on a terminal; nothing otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nnlint.results import FileResult

# Runs shorter than this never show a bar (it would only flicker).
SHOW_AFTER_S = 1.5


@contextmanager
def progress(total: int, enabled: bool) -> Iterator[Callable[[FileResult], None] | None]:
    if not enabled or total < 50 or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    started = time.monotonic()
    bar = Progress(
        TextColumn("nnlint"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    )
    task = bar.add_task("lint", total=total)
    shown = False

    def advance(_: FileResult) -> None:
        nonlocal shown
        if not shown and time.monotonic() - started > SHOW_AFTER_S:
            bar.start()
            shown = True
        bar.advance(task)

    try:
        yield advance
    finally:
        if shown:
            bar.stop()
