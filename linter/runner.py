"""Lint many files in parallel worker processes; results come back in a stable order."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nnlint.finding import Finding
from nnlint.results import FileResult, InternalError, syntax_error

if TYPE_CHECKING:
    from nnlint.rule import Rule

# Below this much work, starting processes costs more than it saves.
_MIN_FILES_FOR_POOL = 8
_MIN_BYTES_FOR_POOL = 200_000


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)
    files: int = 0


def read_file(path: str) -> bytes | Finding:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except IsADirectoryError:
        return syntax_error(path, "cannot read: is a directory")
    except FileNotFoundError:
        return syntax_error(path, "cannot read: the file disappeared during the run")
    except PermissionError:
        return syntax_error(path, "cannot read: permission denied")
    except OSError as exc:
        return syntax_error(path, f"cannot read: {exc.strerror or exc}")


def lint_path(path: str, rules: Sequence[type[Rule]], options: Mapping[str, Mapping[str, Any]]) -> FileResult:
    data = read_file(path)
    if isinstance(data, Finding):
        return FileResult(path, [data])
    from nnlint.engine import lint_source

    return lint_source(path, data, rules, options)


_worker_state: tuple[Sequence[type[Rule]], Mapping[str, Mapping[str, Any]]] | None = None


def _init_worker(rules: Sequence[type[Rule]], options: Mapping[str, Mapping[str, Any]]) -> None:
    global _worker_state
    _worker_state = (rules, options)


def _lint_in_worker(path: str) -> FileResult:
    assert _worker_state is not None
    rules, options = _worker_state
    try:
        return lint_path(path, rules, options)
    except Exception as exc:  # noqa: BLE001 - one file must never stop the run
        return FileResult(path, errors=[InternalError(path, "engine", f"{type(exc).__name__}: {exc}")])


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _context():
    try:
        return multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        return multiprocessing.get_context()


def _run_pool(
    paths: list[str],
    rules: Sequence[type[Rule]],
    options: Mapping[str, Mapping[str, Any]],
    jobs: int,
    on_result: Callable[[FileResult], None] | None,
) -> list[FileResult]:
    """Lint in worker processes. A worker that dies (a native parser crash) costs only its file: the
    unfinished files are re-linted one process each, and the one that kills its process is reported."""
    done: dict[str, FileResult] = {}

    def keep(result: FileResult) -> None:
        done[result.path] = result
        if on_result:
            on_result(result)

    try:
        with ProcessPoolExecutor(jobs, mp_context=_context(), initializer=_init_worker, initargs=(rules, options)) as pool:
            for future in as_completed([pool.submit(_lint_in_worker, path) for path in paths]):
                keep(future.result())
    except BrokenProcessPool:
        for path in paths:
            if path not in done:
                keep(_lint_isolated(path, rules, options))
    return [done[path] for path in paths]


def _lint_isolated(path: str, rules: Sequence[type[Rule]], options: Mapping[str, Mapping[str, Any]]) -> FileResult:
    try:
        with ProcessPoolExecutor(1, mp_context=_context(), initializer=_init_worker, initargs=(rules, options)) as pool:
            return pool.submit(_lint_in_worker, path).result()
    except BrokenProcessPool:
        return FileResult(path, [syntax_error(path, "cannot parse: the parser crashed on this file")])


def run(
    paths: Sequence[str],
    rules: Sequence[type[Rule]],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    jobs: int | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    cache_dir: str | None = None,
    load: Callable[[], Sequence[type[Rule]]] | None = None,
) -> RunResult:
    """Lint ``paths`` (files) with ``rules``; ``jobs`` worker processes (None: all cores).

    With ``cache_dir``, files whose content, path and rule set were linted before are answered from
    the cache and only the others are linted. ``rules`` may be descriptions (``RuleInfo``) with ``load``
    returning the rule classes: they are imported only if some file is not in the cache.
    """
    options = options or {}
    jobs = max(1, jobs or os.cpu_count() or 1)
    cached: list[FileResult] = []
    keys: dict[str, str] = {}
    cache = None
    if cache_dir is not None:
        from nnlint.cache import ResultCache, rules_signature

        cache = ResultCache(cache_dir, rules_signature(rules, options))
        todo = []
        for path in paths:
            data = read_file(path)
            if isinstance(data, Finding):
                todo.append(path)
                continue
            key = keys[path] = cache.key(path, data)
            hit = cache.get(path, key)
            if hit is None:
                todo.append(path)
            else:
                cached.append(hit)
                if on_result:
                    on_result(hit)
        total, paths = len(paths), todo
    else:
        total = len(paths)
    if paths and load is not None:
        rules = load()
    sizes = {p: _file_size(p) for p in paths}
    # Largest first keeps the workers evenly busy to the end.
    ordered = sorted(paths, key=lambda p: -sizes[p])
    use_pool = jobs > 1 and len(paths) >= _MIN_FILES_FOR_POOL and sum(sizes.values()) >= _MIN_BYTES_FOR_POOL
    results: list[FileResult] = []
    if use_pool:
        results = _run_pool(ordered, rules, options, jobs, on_result)
    else:
        _init_worker(rules, options)
        for path in ordered:
            result = _lint_in_worker(path)
            results.append(result)
            if on_result:
                on_result(result)
    if cache is not None:
        for result in results:
            if result.path in keys:
                cache.put(keys[result.path], result)
    out = RunResult(files=total)
    for result in cached + results:
        out.findings.extend(result.findings)
        out.errors.extend(result.errors)
    out.findings.sort(key=lambda f: f.sort_key)
    out.errors.sort(key=lambda e: (e.path, e.rule))
    return out
