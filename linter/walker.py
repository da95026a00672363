"""One traversal of a module for all enabled rules (Fixit's batched visitor, minus its overhead).

libcst's own ``visit`` rebuilds every node as it goes; this walker only reads. It skips the
whitespace, comma and bracket fields no rule needs, and dispatches each node to the ``visit_<Type>``
and ``leave_<Type>`` methods of the rules that defined them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import libcst as cst

from nnlint.context import FileContext

_SKIPPED_FIELDS = frozenset(
    {
        "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "leading_lines",
        "lines_after_decorators", "header", "footer", "semicolon", "comma", "dot", "equal",
        "colon", "star", "operator", "asynchronous", "default_star", "newline", "trailing_whitespace",
        "whitespace", "first_line", "empty_lines", "arrow", "walrus", "comparator_operator",
    }
)
# Order children as they appear in the source where dataclass field order differs.
_FIELD_ORDER = {
    cst.FunctionDef: ("decorators", "name", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "bases", "keywords", "body"),
}
_LEAF_TYPES = (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline, cst.Comment)

_fields_cache: dict[type, tuple[str, ...]] = {}
_leaf_cache: dict[type, bool] = {}


def _is_leaf(node_type: type) -> bool:
    """Whitespace/comment node types, which no rule visits (cached: ABC isinstance checks are slow)."""
    leaf = _leaf_cache.get(node_type)
    if leaf is None:
        leaf = _leaf_cache[node_type] = issubclass(node_type, _LEAF_TYPES) or not issubclass(node_type, cst.CSTNode)
    return leaf


def _child_fields(node_type: type) -> tuple[str, ...]:
    cached = _fields_cache.get(node_type)
    if cached is None:
        if node_type in _FIELD_ORDER:
            cached = _FIELD_ORDER[node_type]
        else:
            cached = tuple(
                f.name
                for f in dataclasses.fields(node_type)
                if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace")
            )
        _fields_cache[node_type] = cached
    return cached


Callback = Callable[[cst.CSTNode], object]


_LEAVE = object()  # marks where a node's subtree ends; the node itself is the top of ``ctx.stack`` then
# Node types that never hold another node a rule could visit: skipped outright when no rule visits them.
_TERMINAL_TYPES = frozenset(
    {cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis, cst.Pass, cst.Break, cst.Continue}
)


def walk(module: cst.Module, ctx: FileContext, visitors: dict[type, list[Callback]], leavers: dict[type, list[Callback]]) -> None:
    """Walk ``module`` depth-first in source order, calling the callbacks registered per node type.

    Iterative, not recursive: long chains (thousands of implicitly concatenated strings, deep binary
    operations) would overflow Python's stack.
    """
    stack = ctx.stack
    scopes = ctx.scopes
    imports = ctx.imports
    scope_types = (cst.FunctionDef, cst.ClassDef)
    import_types = (cst.Import, cst.ImportFrom)
    skipped = _TERMINAL_TYPES.difference(visitors).difference(leavers)
    leave_marker = _LEAVE
    work: list = [module]
    pop, push = work.pop, work.append
    while work:
        node = pop()
        if node is leave_marker:
            node = stack.pop()
            node_type = type(node)
            if node_type in scope_types:
                scopes.pop()
            callbacks = leavers.get(node_type)
            if callbacks:
                for cb in callbacks:
                    cb(node)
            continue
        node_type = type(node)
        if node_type in import_types:
            imports.add(node)
        callbacks = visitors.get(node_type)
        if callbacks:
            for cb in callbacks:
                cb(node)
        if node_type in scope_types:
            scopes.append(node)
        stack.append(node)
        push(leave_marker)
        kids = _structural_children(node, skipped)
        if kids:
            kids.reverse()
            work.extend(kids)


@functools.cache
def node_types_of(rule_type: type) -> tuple[tuple[str, type, str], ...]:
    """("visit"|"leave", libcst node class, method name) for every visit_/leave_ method of a rule."""
    found = []
    for attr in dir(rule_type):
        for kind in ("visit", "leave"):
            prefix = kind + "_"
            if attr.startswith(prefix):
                node_type = getattr(cst, attr[len(prefix):], None)
                if isinstance(node_type, type) and issubclass(node_type, cst.CSTNode):
                    found.append((kind, node_type, attr))
    return tuple(found)


def contains(root: cst.CSTNode, target: cst.CSTNode) -> bool:
    """Whether ``target`` is ``root`` or inside it (identity), reading the same fields as ``walk``."""
    pending = [root]
    while pending:
        node = pending.pop()
        if node is target:
            return True
        pending.extend(children(node))
    return False


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The structural children of ``node`` (whitespace and punctuation left out), in source order."""
    return _structural_children(node, _NOTHING)


_NOTHING: frozenset[type] = frozenset()


def _structural_children(node: cst.CSTNode, skipped: frozenset[type]) -> list[cst.CSTNode]:
    """``children(node)`` without the nodes whose type is in ``skipped`` (the walk's unvisited terminals)."""
    out: list[cst.CSTNode] = []
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            for v in value:
                v_type = type(v)
                if v_type not in skipped and not _is_leaf(v_type):
                    out.append(v)
        elif value_type not in skipped and not _is_leaf(value_type):
            out.append(value)
    return out
