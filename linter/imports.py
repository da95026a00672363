"""Resolve names to qualified names through the module's own import statements.

``import torch.nn as nn``, ``from torch import nn as tnn`` and ``from torch.nn import Dropout as D``
all make ``nn.Dropout``, ``tnn.Dropout`` and ``D`` resolve to ``torch.nn.Dropout``. This is a deliberate
replacement for libcst's QualifiedNameProvider, which costs several times the parse.
"""

from __future__ import annotations

import libcst as cst


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def _module_name(node: cst.BaseExpression | None) -> str:
    return dotted_name(node) or "" if node is not None else ""


class ImportMap:
    """Local binding -> qualified name, filled from Import/ImportFrom statements."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.star_modules: list[str] = []

    def add(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = _module_name(alias.name)
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases[alias.asname.name.value] = full
                else:
                    top = full.split(".", 1)[0]
                    self.aliases.setdefault(top, top)
            return
        module = "." * len(node.relative) + _module_name(node.module)
        if isinstance(node.names, cst.ImportStar):
            self.star_modules.append(module)
            return
        for alias in node.names:
            name = _module_name(alias.name)
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.aliases[local] = f"{module}.{name}" if module and not module.endswith(".") else module + name

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The qualified name of a Name/Attribute chain whose root is imported, else None."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        root, _, rest = dotted.partition(".")
        target = self.aliases.get(root)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def collect(self, module: cst.Module) -> None:
        """Add every import at module level, including inside top-level if/try blocks."""
        stack: list[cst.CSTNode] = list(module.body)
        while stack:
            stmt = stack.pop()
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, (cst.Import, cst.ImportFrom)):
                        self.add(small)
            elif isinstance(stmt, (cst.If, cst.Try, cst.TryStar, cst.With)):
                stack.extend(_block_statements(stmt))


def _block_statements(stmt: cst.CSTNode) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []
    for attr in ("body", "orelse", "handlers", "finalbody"):
        child = getattr(stmt, attr, None)
        if child is None:
            continue
        if isinstance(child, (list, tuple)):
            for handler in child:
                out.extend(_block_statements(handler))
        elif isinstance(child, cst.IndentedBlock):
            out.extend(child.body)
        elif isinstance(child, cst.BaseSuite):
            out.extend(getattr(child, "body", ()))
        else:
            out.extend(_block_statements(child))
    return out
