"""Small helpers rules share for reading libcst nodes."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from nnlint.imports import dotted_name

__all__ = [
    "arg",
    "assign_targets",
    "call_name",
    "dotted_name",
    "int_value",
    "number_value",
    "string_value",
    "statements",
    "walk_nodes",
    "with_arg",
]


def arg(call: cst.Call, index: int | None, keyword: str | None = None) -> cst.BaseExpression | None:
    """The argument at positional ``index`` or passed as ``keyword=``, else None (``*args`` stops the count)."""
    position = 0
    for a in call.args:
        if a.keyword is not None:
            if keyword is not None and a.keyword.value == keyword:
                return a.value
            continue
        if a.star:
            if a.star == "*":
                index = None
            continue
        if index is not None and position == index:
            return a.value
        position += 1
    return None


def call_name(call: cst.Call) -> str | None:
    """The last name of the callee: ``clamp`` for ``torch.clamp(...)`` and ``loss.clamp(...)``."""
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def number_value(node: cst.BaseExpression | None) -> float | None:
    """The value of a numeric literal (``3``, ``-1``, ``1e-3``, ``0.1``), else None."""
    if node is None:
        return None
    sign = 1.0
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        sign = -1.0 if isinstance(node.operator, cst.Minus) else 1.0
        node = node.expression
    if isinstance(node, cst.Integer):
        return sign * float(node.evaluated_value)
    if isinstance(node, cst.Float):
        return sign * float(node.evaluated_value)
    return None


def int_value(node: cst.BaseExpression | None) -> int | None:
    if node is None:
        return None
    sign = 1
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        sign, node = -1, node.expression
    if isinstance(node, cst.Integer):
        return sign * int(node.evaluated_value)
    return None


def string_value(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def assign_targets(node: cst.CSTNode) -> list[str]:
    """Dotted names bound by an Assign/AnnAssign/AugAssign (tuple targets flattened)."""
    targets: list[cst.BaseExpression] = []
    if isinstance(node, cst.Assign):
        targets = [t.target for t in node.targets]
    elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
        targets = [node.target]
    names: list[str] = []
    while targets:
        t = targets.pop(0)
        if isinstance(t, (cst.Tuple, cst.List)):
            targets[:0] = [e.value for e in t.elements]
        else:
            name = dotted_name(t)
            if name:
                names.append(name)
    return names


def statements(block: cst.BaseSuite | cst.Module) -> list[cst.BaseStatement | cst.BaseSmallStatement]:
    """The statements of a block, small statements of ``a; b`` lines split out, in order."""
    body = block.body
    if isinstance(block, cst.SimpleStatementSuite):
        return list(body)
    out: list = []
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            out.extend(stmt.body)
        else:
            out.append(stmt)
    return out


def walk_nodes(root: cst.CSTNode, node_type: type | tuple[type, ...] = cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node under ``root`` (included) of ``node_type``, in source order, without libcst's visit."""
    from nnlint.walker import children

    pending = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, node_type):
            yield node
        pending.extend(reversed(children(node)))


NESTED_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def expr_nodes(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Nodes under ``root`` in source order, not entering nested functions, classes or lambdas."""
    from nnlint.walker import children

    pending = [root]
    while pending:
        node = pending.pop()
        yield node
        if node is not root and isinstance(node, NESTED_SCOPES):
            continue
        pending.extend(reversed(children(node)))


def with_arg(call: cst.Call, new: cst.Arg) -> cst.Call:
    """``call`` with ``new`` appended, keeping its layout (one argument per line, a trailing comma)."""
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    if len(args) > 1 and isinstance(args[-2].comma, cst.Comma):
        sep = args[-2].comma
    elif isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        sep = cst.Comma(whitespace_after=call.whitespace_before_args)
    else:
        sep = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    if isinstance(last.comma, cst.Comma):
        new = new.with_changes(comma=last.comma)
    args[-1] = last.with_changes(comma=sep)
    return call.with_changes(args=[*args, new])
