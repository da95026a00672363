from __future__ import annotations

import ast
import gc
import textwrap

import libcst as cst
import pytest

from nnlint.engine import lint_source
from nnlint.imports import ImportMap
from nnlint.prefilter import blank_irrelevant_chunks
from tests.lint.dummy_rules import Explodes, FlagDropout, Scopes, Visits


def lint(code: str, rules, **kw):
    return lint_source("t.py", textwrap.dedent(code), rules, **kw)


@pytest.mark.parametrize(
    "header, expr",
    [
        ("import torch.nn as nn", "nn.Dropout"),
        ("from torch import nn as tnn", "tnn.Dropout"),
        ("from torch.nn import Dropout as D", "D"),
        ("from torch.nn import Dropout", "Dropout"),
        ("import torch", "torch.nn.Dropout"),
        ("import torch.nn", "torch.nn.Dropout"),
        ("try:\n    import torch.nn as nn\nexcept ImportError:\n    pass", "nn.Dropout"),
    ],
)
def test_import_aliases_resolve_to_one_qualified_name(header, expr):
    result = lint(f"{header}\nlayer = {expr}(0.5)\n", [FlagDropout])
    assert [f.code for f in result.findings] == ["NN901"]


@pytest.mark.parametrize(
    "code",
    [
        "import keras.layers as nn\nlayer = nn.Dropout(0.5)\n",
        "class Dropout: pass\nlayer = Dropout(0.5)\n",  # not imported from torch
        "from mylib import nn\nlayer = nn.Dropout(0.5)\n",
        "layer = nn.Dropout(0.5)\n",  # nn never imported: the text alone is not enough
    ],
)
def test_names_not_imported_from_torch_do_not_resolve(code):
    assert lint(code, [FlagDropout]).findings == []


def test_functional_alias():
    imports = ImportMap()
    module = cst.parse_module("import torch.nn.functional as F\nfrom torch.nn import functional as G\n")
    imports.collect(module)
    expr = cst.parse_expression("F.dropout")
    assert imports.resolve(expr) == "torch.nn.functional.dropout"
    assert imports.resolve(cst.parse_expression("G.relu")) == "torch.nn.functional.relu"
    assert imports.resolve(cst.parse_expression("x.relu")) is None


def test_relative_imports_keep_their_dots():
    imports = ImportMap()
    imports.collect(cst.parse_module("from . import layers\nfrom ..models import Net as N\n"))
    assert imports.resolve(cst.parse_expression("layers.Block")) == ".layers.Block"
    assert imports.resolve(cst.parse_expression("N")) == "..models.Net"


def test_positions_are_exact_and_one_based():
    code = "import torch.nn as nn\n\n\nclass M:\n    def f(self):\n        return  nn.Dropout(p=0.1)\n"
    (finding,) = lint(code, [FlagDropout]).findings
    assert (finding.line, finding.column, finding.end_line, finding.end_column) == (6, 17, 6, 34)


def test_positions_survive_chunk_blanking_in_a_long_file():
    filler = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(80))
    code = "import torch.nn as nn\n" + filler + "class M:\n    drop = nn.Dropout(0.1)\n" + filler
    result = lint(code, [FlagDropout])
    (finding,) = result.findings
    expected_line = code.splitlines().index("    drop = nn.Dropout(0.1)") + 1
    assert (finding.line, finding.column) == (expected_line, 12)
    assert result.findings == lint(code, [FlagDropout], chunking=False).findings


def test_positions_with_decorators_comments_and_semicolons():
    code = (
        "import torch.nn as nn\n# comment\n\n@decorator(\n    1)\n# between\ndef f():\n    pass\n"
        "a = 1; b = nn.Dropout(0.2)\n\n\n# trailing comment\nc = [\n    nn.Dropout(0.3)]\n"
    )
    findings = lint(code, [FlagDropout]).findings
    assert [(f.line, f.column) for f in findings] == [(9, 12), (14, 5)]


def test_blanking_keeps_line_numbers_and_relevant_chunks():
    src = "import torch\n" + "".join(f"def f{i}():\n    return {i}\n" for i in range(70)) + "def g():\n    return Dropout\n"
    import ast

    out, _ = blank_irrelevant_chunks(src, lambda chunk: "Dropout" in chunk, ast.parse(src))
    assert out.count("\n") == src.count("\n")
    assert "def g():" in out and "def f1()" not in out and "import torch" in out


def test_scope_is_visible_to_rules():
    code = """
    marker()
    class A:
        marker()
        def m(self):
            marker()
            def inner():
                marker()
    def top():
        marker()
    """
    messages = [f.message for f in lint(code, [Scopes]).findings]
    assert messages == ["-.-", "A.-", "A.m", "A.inner", "-.top"]


def test_nodes_are_visited_in_source_order():
    code = "@order_1\ndef order_2(order_3: order_4) -> order_5:\n    order_6(order_7, k=order_8)\n"
    assert [f.message for f in lint(code, [Visits]).findings] == [f"order_{i}" for i in range(1, 9)]


def test_a_rule_that_raises_is_an_internal_error_not_a_crash():
    result = lint("import torch.nn as nn\nx = nn.Dropout(0.1)\n", [Explodes, FlagDropout])
    assert [e.rule for e in result.errors] == ["NN903"]
    assert "boom" in result.errors[0].message
    assert [f.code for f in result.findings] == ["NN901"]  # the other rules still report


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"x = (\n", "cannot parse"),
        (b"x = 1\x00\n", "null byte"),
        (b"x = '\xff'\n", "cannot decode"),
        (b"# -*- coding: latin-1 -*-\nx = '\xe9'\ny = (\n", "cannot parse"),
        (b"# coding: nonexistent-codec\nx = 1\n", "cannot decode"),
        (b"def f(:\n    pass\n", "cannot parse"),
        # Valid Python (CPython parses it) that libcst's grammar lacks: said as such, not as a syntax error.
        (b"def f():\n    (x): int\n    print(Dropout)\n", "valid Python that libcst's parser does not support"),
    ],
)
def test_bad_files_are_one_nn000_finding(data, fragment):
    result = lint_source("bad.py", data, [FlagDropout])
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert finding.code == "NN000" and finding.name == "syntax-error" and fragment in finding.message
    assert finding.line >= 1 and finding.column >= 1


def test_syntax_error_location_points_at_the_problem():
    (finding,) = lint_source("bad.py", b"import torch\n\ndef f(:\n    pass\n", []).findings
    assert finding.line == 3


def test_bom_and_crlf_are_fine():
    data = b"\xef\xbb\xbfimport torch.nn as nn\r\nx = nn.Dropout(0.1)\r\n"
    (finding,) = lint_source("bom.py", data, [FlagDropout]).findings
    assert (finding.line, finding.column) == (2, 5)


def test_prefilter_skips_files_without_the_words():
    assert lint("import torch\nx = 1\n", [FlagDropout]).findings == []


def test_suppressions():
    code = """
    import torch.nn as nn
    a = nn.Dropout(0.1)  # noqa: NN901
    b = nn.Dropout(0.1)  # noqa
    c = nn.Dropout(0.1)  # noqa: NN101
    # nnlint: ignore[NN901]
    d = nn.Dropout(0.1)
    e = nn.Dropout(0.1)  # nnlint: ignore[NN9]
    f = nn.Dropout(0.1)
    """
    lines = [f.line for f in lint(code, [FlagDropout]).findings]
    assert lines == [5, 9]


def test_file_level_suppression():
    code = "# nnlint: ignore-file[NN901]\nimport torch.nn as nn\nx = nn.Dropout(0.1)\n"
    assert lint(code, [FlagDropout]).findings == []
    code = "import torch.nn as nn\nx = nn.Dropout(0.1)\n# nnlint: ignore-file\n"
    assert lint(code, [FlagDropout]).findings == []
    code = "import torch.nn as nn\nx = nn.Dropout(0.1)\n# nnlint: ignore-file[NN101]\n"
    assert len(lint(code, [FlagDropout]).findings) == 1


def test_fix_edits_are_carried_on_findings():
    (finding,) = lint("import torch.nn as nn\nx = nn.Dropout(0.1)\n", [FlagDropout]).findings
    assert finding.fix is not None and finding.fix.applicability == "safe"
    (edit,) = finding.fix.edits
    assert (edit.line, edit.column, edit.end_line, edit.end_column, edit.content) == (2, 5, 2, 15, "nn.Identity")


def test_multiline_replacement_nodes_keep_their_block_indentation():
    from nnlint.fixes import apply_fixes
    from nnlint.rule import Rule

    class AddKeyword(Rule):
        code = "NN908"
        name = "add-keyword"
        message = "m"
        requires = ("Dropout",)

        def visit_Call(self, node):
            if self.ctx.qualname(node.func) == "torch.nn.Dropout":
                extra = cst.Arg(cst.Name("True"), keyword=cst.Name("inplace"),
                                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
                self.report(node, fix=self.fix("safe", (node, node.with_changes(args=[*node.args, extra]))))

    code = "import torch.nn as nn\n\n\nclass M:\n    def f(self):\n        return nn.Dropout(\n            0.1,\n        )\n"
    (finding,) = lint(code, [AddKeyword]).findings
    fixed, applied = apply_fixes(code, [finding])
    assert applied == 1
    assert fixed.endswith("        return nn.Dropout(\n            0.1,\n        inplace=True)\n")
    cst.parse_module(fixed)


def _collections_during(action) -> list[str]:
    phases: list[str] = []

    def record(phase: str, info: dict) -> None:
        phases.append(phase)

    gc.callbacks.append(record)
    try:
        action()
    finally:
        gc.callbacks.remove(record)
    return phases


def test_the_garbage_collector_is_paused_while_a_file_is_linted():
    # Thousands of live nodes: with the collector on, its automatic collections run many times here.
    source = "import torch.nn as nn\nlayer = nn.Dropout(0.5)\nsizes = [" + ", ".join(map(str, range(20_000))) + "]\n"
    assert gc.isenabled()
    assert _collections_during(lambda: ast.parse(source)) != []  # the probe sees collections when they happen
    assert _collections_during(lambda: lint(source, [FlagDropout])) == []
    assert gc.isenabled()


def test_a_paused_collector_stays_paused_after_linting():
    gc.disable()
    try:
        lint("import torch.nn as nn\nlayer = nn.Dropout(0.5)\n", [FlagDropout, Explodes])
        assert not gc.isenabled()
    finally:
        gc.enable()
    lint("import torch.nn as nn\nlayer = nn.Dropout(0.5)\n", [Explodes])  # a rule that raises
    assert gc.isenabled()
