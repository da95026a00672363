"""nnlint's parser: the same trees as libcst's own, built more cheaply, and libcst left as it was."""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.metadata import CodeRange

from nnlint import parsing
from nnlint.parsing import parse_module_unvalidated
from nnlint.positions import _positions

SOURCES = [
    parsing._REFERENCE_SOURCE,
    "x = 1\r\ny = (2 ,\r\n     3)\r\n",
    "if x:\n\tcall( a ,b )  # trailing comment\n\n\n# own line\n",
    "value = (\n    first  # one\n    + second\n)\nz = [\n    1,\n    2,\n]\n",
    "a = b if c else \\\n    d\nlambda: (yield)\n",
    "",
    "\n\n   \n",
    "x=1;y=2 ;  z = 3\n@ d\ndef f ( a , * , b = 1 ) -> 'T' : return a@b\n",
    "print(f'{x!r:{width}.{precision}}', u'text', rb'\\x00')\n",
    "def f():\n    y = (a + b)\n    from x import (\n        a,\n        b)\n    return (y)\n",
]


@pytest.mark.parametrize("source", SOURCES)
def test_the_tree_is_the_one_libcst_builds(source):
    fast = parse_module_unvalidated(source)
    assert fast.code == source
    assert fast.deep_equals(cst.parse_module(source))


@pytest.mark.parametrize("source", SOURCES)
def test_every_node_but_the_shared_tokens_has_libcsts_position(source):
    assert parsing.same_positions(parse_module_unvalidated(source), cst.parse_module(source))


def test_a_nested_parenthesized_import_ends_where_its_own_parenthesis_does():
    source = "def f():\n    y = (a + b)\n    from x import (\n        a,\n        b)\n"
    module = parse_module_unvalidated(source)
    imported = module.body[0].body.body[1].body[0]
    assert _positions(module)[imported] == CodeRange((3, 4), (5, 10))


def test_sharing_that_would_move_positions_fails_the_check(monkeypatch):
    # A shared ")" would end every parenthesized import where the statement's first ")" ends.
    monkeypatch.setattr(parsing, "_PUNCTUATION_BASES", (*parsing._PUNCTUATION_BASES, cst.LeftParen, cst.RightParen))
    parsing._checked_constructors.cache_clear()
    try:
        assert parsing._checked_constructors() == {}
    finally:
        parsing._checked_constructors.cache_clear()


def test_whitespace_and_punctuation_are_shared_and_names_are_not():
    module = parse_module_unvalidated("f(a, b)\ng(c, d)\n")
    first, second = (line.body[0].value for line in module.body)
    assert first.args[0].comma is second.args[0].comma  # the same ", " token
    assert first.whitespace_before_args is second.whitespace_before_args
    assert first.func is not second.func and first.args[0].value is not second.args[0].value


def test_the_check_is_in_force_on_this_libcst():
    assert parsing._checked_constructors(), "the fast constructors failed their check: nnlint parses slowly"


def test_libcst_is_left_as_it_was():
    before = {name: getattr(cst, name) for name in ("Name", "SimpleWhitespace", "Comma", "Module")}
    parse_module_unvalidated("x = f(a, b)\n")
    with pytest.raises(cst.ParserSyntaxError):
        parse_module_unvalidated("def broken(:\n")
    assert {name: getattr(cst, name) for name in before} == before
    assert isinstance(cst.Name("ok"), cst.Name)


def test_nodes_built_outside_the_parser_are_still_validated():
    parse_module_unvalidated("x = 1\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")
    with pytest.raises(cst.CSTValidationError):
        cst.SimpleWhitespace("x")


def test_constructors_that_fail_their_check_are_not_used(monkeypatch):
    real = parsing.fast_constructors

    def broken():
        constructors = real()
        constructors["Name"] = _name_with_other_value
        return constructors

    monkeypatch.setattr(parsing, "fast_constructors", broken)
    parsing._checked_constructors.cache_clear()
    try:
        assert parsing._checked_constructors() == {}
        module = parse_module_unvalidated("alpha = beta\n")
        assert module.code == "alpha = beta\n"
        assert module.body[0].body[0].targets[0].target.value == "alpha"
    finally:
        parsing._checked_constructors.cache_clear()


def _name_with_other_value(*, value, lpar=(), rpar=()):
    return cst.Name(value="renamed", lpar=lpar, rpar=rpar)


def test_a_constructor_error_falls_back_to_libcsts_parser(monkeypatch):
    def raising(**fields):
        raise TypeError("unexpected field")

    checked = dict(parsing._checked_constructors())
    checked["Integer"] = raising
    monkeypatch.setattr(parsing, "_checked_constructors", lambda: checked)
    module = parse_module_unvalidated("n = 1\n")
    assert module.deep_equals(cst.parse_module("n = 1\n"))
    assert cst.Integer is not raising
