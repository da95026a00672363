"""Line/column positions for the reported nodes only.

libcst's PositionProvider regenerates the code of the whole module (about twice the parse). Here only
the top-level statement that holds a reported node is regenerated: its first line comes from Python's
``ast`` (C speed), and libcst's PositionProvider runs on a one-statement module built from it.
"""

from __future__ import annotations

import ast

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

from nnlint.walker import contains


class PositionIndex:
    def __init__(self, module: cst.Module, parsed_text: str, statements: list[ast.stmt] | None = None) -> None:
        self.module = module
        self.parsed_text = parsed_text
        self.statements = statements
        self._first_lines: dict[int, int] | None = None
        self._ranges: dict[int, dict[cst.CSTNode, CodeRange]] = {}
        self._whole: dict[cst.CSTNode, CodeRange] | None = None

    def get(self, node: cst.CSTNode, top: cst.CSTNode | None) -> CodeRange | None:
        if top is None or id(top) not in self._statement_lines():
            top = self._find_top(node)
        first = self._statement_lines().get(id(top)) if top is not None else None
        if top is None or first is None:
            return self._whole_module().get(node)
        ranges = self._ranges.get(id(top))
        if ranges is None:
            ranges = self._statement_ranges(top)
            self._ranges[id(top)] = ranges
        rng = ranges.get(node)
        if rng is None:
            return self._whole_module().get(node)
        offset = first - 1 - len(getattr(top, "leading_lines", ()))
        return CodeRange((rng.start.line + offset, rng.start.column), (rng.end.line + offset, rng.end.column))

    def _statement_ranges(self, top: cst.CSTNode) -> dict[cst.CSTNode, CodeRange]:
        single = self.module.with_changes(body=[top], header=(), footer=())
        return _positions(single)

    def _whole_module(self) -> dict[cst.CSTNode, CodeRange]:
        if self._whole is None:
            self._whole = _positions(self.module)
        return self._whole

    def _find_top(self, node: cst.CSTNode) -> cst.CSTNode | None:
        for stmt in self.module.body:
            if stmt is node or contains(stmt, node):
                return stmt
        return None

    def _statement_lines(self) -> dict[int, int]:
        """id(top-level cst statement) -> the 1-based line where its code (or first decorator) starts."""
        if self._first_lines is not None:
            return self._first_lines
        self._first_lines = {}
        stmts = self.statements
        if stmts is None:
            try:
                stmts = ast.parse(self.parsed_text).body
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return self._first_lines
        i = 0
        for stmt in self.module.body:
            if i >= len(stmts):
                self._first_lines = {}
                break
            node = stmts[i]
            lines = [node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())]
            self._first_lines[id(stmt)] = min(lines)
            i += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
        else:
            if i != len(stmts):
                self._first_lines = {}
        return self._first_lines


def _positions(module: cst.Module) -> dict[cst.CSTNode, CodeRange]:
    """PositionProvider's code generation alone; MetadataWrapper adds a full visit we do not need."""
    provider = PositionProvider()
    try:
        state = PositionProvidingCodegenState(
            default_indent=module.default_indent, default_newline=module.default_newline, provider=provider
        )
        module._codegen(state)
        return dict(provider._computed)
    except (AttributeError, TypeError):  # libcst internals moved: take the public road
        return dict(MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider))
