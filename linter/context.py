"""What a rule can see while it visits a file: the path, the source, its scope and the imports in force."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from nnlint.imports import ImportMap, dotted_name


@dataclass
class FileContext:
    path: str
    source: str
    module: cst.Module
    imports: ImportMap = field(default_factory=ImportMap)
    # Ancestors of the node being visited, outermost first (the node itself is not included).
    stack: list[cst.CSTNode] = field(default_factory=list)
    # Enclosing FunctionDef/ClassDef nodes, outermost first.
    scopes: list[cst.FunctionDef | cst.ClassDef] = field(default_factory=list)

    @property
    def parent(self) -> cst.CSTNode | None:
        return self.stack[-1] if self.stack else None

    @property
    def function(self) -> cst.FunctionDef | None:
        """The innermost enclosing function (or method)."""
        for scope in reversed(self.scopes):
            if isinstance(scope, cst.FunctionDef):
                return scope
        return None

    @property
    def klass(self) -> cst.ClassDef | None:
        """The innermost enclosing class."""
        for scope in reversed(self.scopes):
            if isinstance(scope, cst.ClassDef):
                return scope
        return None

    def qualname(self, node: cst.BaseExpression) -> str | None:
        """Qualified name through the imports (``nn.Dropout`` -> ``torch.nn.Dropout``), else None."""
        return self.imports.resolve(node)

    def callee(self, call: cst.Call) -> str | None:
        """The qualified name of the called function, else its dotted text (``self.drop``), else None."""
        return self.imports.resolve(call.func) or dotted_name(call.func)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)
