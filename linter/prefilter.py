"""Cheap text checks that keep the parser away from code no enabled rule can match.

Two levels: a rule whose ``requires`` words are not in the file is not run on it at all, and a file no
rule applies to is never parsed. Within a file that is parsed, top-level functions and classes that no
active rule needs (``Rule.needs_chunk``: by default, their text holds none of its words) are replaced by
blank lines before parsing, so line and column numbers stay exact while the parser skips them.
Module-level statements (imports, constants, ``if __name__ == "__main__":`` blocks) are always kept.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

# Files smaller than this are parsed whole: chunking would save less than it costs.
_MIN_CHUNKED_LINES = 120


def rule_words(requires: Iterable[str | tuple[str, ...]]) -> set[str]:
    words: set[str] = set()
    for entry in requires:
        words.update((entry,) if isinstance(entry, str) else entry)
    return words


def blank_irrelevant_chunks(
    source: str, needed: Callable[[str], bool] | None, tree: ast.Module | None
) -> tuple[str, list[ast.stmt] | None]:
    """``source`` with the top-level defs/classes that ``needed(chunk_text)`` rejects blanked out, and
    the top-level statements of ``tree`` that remain.

    ``needed`` None means every chunk is relevant; without a tree (CPython could not parse the file),
    nothing is blanked and the real parser decides.
    """
    if tree is None:
        return source, None
    if needed is None or source.count("\n") < _MIN_CHUNKED_LINES:
        return source, list(tree.body)
    lines = source.splitlines(keepends=True)
    kept: list[ast.stmt] = []
    blanked = False
    for stmt in tree.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kept.append(stmt)
            continue
        start = min([stmt.lineno] + [d.lineno for d in stmt.decorator_list]) - 1
        end = stmt.end_lineno or stmt.lineno
        chunk = "".join(lines[start:end])
        if needed(chunk):
            kept.append(stmt)
            continue
        for i in range(start, end):
            line = lines[i]
            lines[i] = line[len(line.rstrip("\r\n")):]
        blanked = True
    return ("".join(lines) if blanked else source), kept
