"""Tiny rules that exercise the engine independently of the real catalogue."""

from __future__ import annotations

import libcst as cst

from nnlint.rule import Rule


class FlagDropout(Rule):
    """Flags every call that resolves to torch.nn.Dropout (engine tests only)."""

    code = "NN901"
    name = "flag-dropout"
    message = "dropout here"
    requires = ("Dropout",)
    fixable = True

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.qualname(node.func) == "torch.nn.Dropout":
            self.report(node, fix=self.fix("safe", (node.func, "nn.Identity"), description="use Identity"))


class Scopes(Rule):
    """Reports the enclosing class/function names of every ``marker()`` call."""

    code = "NN902"
    name = "scopes"
    message = "scope"
    requires = ("marker",)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "marker":
            fn = self.ctx.function.name.value if self.ctx.function else "-"
            cls = self.ctx.klass.name.value if self.ctx.klass else "-"
            self.report(node, f"{cls}.{fn}")


class Explodes(Rule):
    """Raises on every call (internal error handling)."""

    code = "NN903"
    name = "explodes"
    message = "never"
    requires = ()

    def visit_Call(self, node: cst.Call) -> None:
        raise RuntimeError("boom")


class Visits(Rule):
    """Records visit order of Name nodes to check source order."""

    code = "NN904"
    name = "visits"
    message = "n"
    requires = ("order_",)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value.startswith("order_"):
            self.report(node, node.value)
