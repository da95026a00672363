"""libcst's parser with cheaper node construction: no validation pass, shared whitespace and punctuation.

libcst's native parser builds every node by looking its class up on the ``libcst`` module and calling
it with keyword arguments. While nnlint parses, those module attributes are swapped for constructors
that

- set the fields directly, without the dataclass ``__init__`` and its ``__post_init__`` validation. For
  a tree the parser itself built that work proves nothing; libcst's own source says as much ("It might
  make more sense to move validation work into the visitor, which would allow us to avoid validating
  the tree when parsing a file");
- hand out one shared instance per distinct whitespace string, newline and punctuation token (``,``
  ``.`` ``=`` ``:``, square and curly brackets, operators). About half the nodes of a typical file are
  ``SimpleWhitespace``. Nodes are immutable, and no rule visits or reports whitespace or punctuation
  (the walker skips those fields), so the sharing is invisible to the rules.

Together they take the parse to about 0.8x the CPU time of plain ``libcst.parse_module`` on the timm
wheel, 0.9x that of the parser without validation alone (``benchmarks/bench_parse.py``). The swap is
checked once per process: a reference source with every construct is parsed both ways, and the trees
must be deep-equal, print back the same code, and give every node that is not a shared token the same
line/column range (``PositionProvider``, which places reported nodes). Otherwise (a libcst release
that builds its nodes some other way) the plain parser is used, as it is when a node class defines its
own ``__post_init__``.
Nodes built by rules and fixes are still validated, and fixed files are re-parsed before they are
written. The swap is process-wide and not thread-safe: nnlint lints one file at a time per process.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import libcst as cst
from libcst._nodes.base import CSTNode

Constructor = Callable[..., CSTNode]

# Shared instances kept per interned class; bounded so that a file of odd whitespace cannot grow them.
_MAX_SHARED = 4096
# Node types made only of whitespace (besides the two interned by value): shared by their children.
# Not parentheses: libcst's PositionProvider takes the end of a parenthesized import from its ``rpar``
# node, so a shared ``)`` would place the import where the first ``)`` of the statement ends.
_PUNCTUATION_BASES = (
    cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp,
    cst.Comma, cst.Dot, cst.AssignEqual, cst.Colon, cst.Semicolon,
    cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace,
)

_REFERENCE_SOURCE = '''\
"""Module docstring."""
from __future__ import annotations
import os.path as osp, sys
from . import sibling
from ..pkg.mod import (a as b, c)  # comment
x: int = 1; y = x + 2 * 3 ** -4 // 5 % 6 @ m - (7 if x else 8)
z = [i for i in range(3) if i] + list({k: v for k, v in d.items()}) + [*{1, 2}, *(3,)]
s = f"{x!r:>{w}} {y=}" "tail" + r'\\d' + b"bytes".decode()
if (n := len(s)) > 3 and not x or y is not None and z not in (1,) <= 2 < 3 >= 4 != 5 == 6:
    x += 1; y <<= 2; z |= {3}; x ^= ~y; x >>= 1; x &= 1; x -= 1; x *= 2; x /= 2; x //= 2; x %= 2; x **= 2; m @= m
elif x:
    pass
else:
    del x, y


@decorator(arg, *args, key=value, **kwargs)
class Model(Base, metaclass=Meta):
    attr: list[int] = []

    async def forward(self, a, /, b: int = 2, *rest, c, d=lambda q, *r, **t: q, **kw) -> None:
        global g
        async with lock as held, other():
            async for item in stream:
                await item
        try:
            raise ValueError("bad") from None
        except* (TypeError, KeyError) as err:
            print(err, sep="", end="\\n")
        finally:
            return
        while True:
            break
        else:
            continue

    def gen(self):
        nonlocal_value = 1

        def inner():
            nonlocal nonlocal_value
            total = (nonlocal_value + 1) * (2)
            from .pkg import (
                first,
                second)
            import os.path as osp
            yield from range(total)
            yield
        assert inner, "message"
        return x[1:2, ::3, ...], x[a][b](c).d.e, (yield)


match command.split():
    case [action, *rest] if action:
        pass
    case {"key": value, **others}:
        pass
    case Point(x=0, y=_) | None:
        pass
with open(path) as handle, \\
        open(other):
    data = handle.read()
'''


def parse_module_unvalidated(source: str) -> cst.Module:
    """``libcst.parse_module(source)`` with the cheaper node construction; raises what it raises."""
    constructors = _checked_constructors()
    if not constructors:
        return cst.parse_module(source)
    try:
        return _parse_with(source, constructors)
    except TypeError:  # a node built in a way the check did not cover: libcst's own constructors decide
        return cst.parse_module(source)


def _parse_with(source: str, constructors: dict[str, Constructor]) -> cst.Module:
    originals = {name: getattr(cst, name) for name in constructors}
    for name, constructor in constructors.items():
        setattr(cst, name, constructor)
    try:
        return cst.parse_module(source)
    finally:
        for name, original in originals.items():
            setattr(cst, name, original)


@functools.cache
def _checked_constructors() -> dict[str, Constructor]:
    """The fast constructors, or none when they do not build exactly what libcst's own do."""
    if _node_classes_overriding():
        return {}
    try:
        constructors = fast_constructors()
        reference = cst.parse_module(_REFERENCE_SOURCE)
        fast = _parse_with(_REFERENCE_SOURCE, constructors)
    except Exception:  # noqa: BLE001 - any surprise here means: use libcst's constructors
        return {}
    if fast.code != _REFERENCE_SOURCE or not fast.deep_equals(reference) or not same_positions(fast, reference):
        return {}
    return constructors


def same_positions(fast: cst.Module, reference: cst.Module) -> bool:
    """Whether every node that occurs once in ``fast`` (a shared token has no position of its own) has
    the line/column range its counterpart has in ``reference``."""
    from nnlint.positions import _positions

    fast_nodes, reference_nodes = _preorder(fast), _preorder(reference)
    if len(fast_nodes) != len(reference_nodes):
        return False
    occurrences: dict[int, int] = {}
    for node in fast_nodes:
        occurrences[id(node)] = occurrences.get(id(node), 0) + 1
    fast_ranges, reference_ranges = _positions(fast), _positions(reference)
    return all(
        fast_ranges.get(node) == reference_ranges.get(twin)
        for node, twin in zip(fast_nodes, reference_nodes, strict=True)
        if occurrences[id(node)] == 1
    )


def _preorder(root: CSTNode) -> list[CSTNode]:
    """Every node under ``root``, whitespace included, in field order (the same for equal trees)."""
    out, pending = [], [root]
    while pending:
        node = pending.pop()
        out.append(node)
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if isinstance(value, CSTNode):
                pending.append(value)
            elif isinstance(value, (tuple, list)):
                pending.extend(v for v in value if isinstance(v, CSTNode))
    return out


def fast_constructors() -> dict[str, Constructor]:
    """Name on the ``libcst`` module -> constructor that skips validation (and shares where it can)."""
    # Class hierarchies are read from the MRO: issubclass on libcst's ABCs would cost more than the rest.
    classes = {
        name: klass
        for name, klass in vars(cst).items()
        if isinstance(klass, type) and CSTNode in klass.__mro__ and dataclasses.is_dataclass(klass)
    }
    constructors = {name: _direct_constructor(klass) for name, klass in classes.items()}
    constructors["SimpleWhitespace"] = _shared_by_value(constructors["SimpleWhitespace"])
    constructors["Newline"] = _shared_by_value(constructors["Newline"])
    simple, newline = classes["SimpleWhitespace"], classes["Newline"]
    constructors["TrailingWhitespace"] = _shared_trailing(constructors["TrailingWhitespace"], simple, newline)
    for name, klass in classes.items():
        if any(base in klass.__mro__ for base in _PUNCTUATION_BASES):
            shared = _shared_punctuation(klass, constructors[name], simple)
            if shared is not None:
                constructors[name] = shared
    return constructors


def _direct_constructor(klass: type) -> Constructor:
    """A keyword-only constructor that sets ``klass``'s fields as its dataclass ``__init__`` would,
    without calling ``__post_init__``; a field left out gets its default."""
    namespace: dict[str, object] = {"_new": object.__new__, "_set": object.__setattr__, "_cls": klass}
    namespace["_MISSING"] = dataclasses.MISSING
    params, body = [], []
    for i, field in enumerate(dataclasses.fields(klass)):
        name = field.name
        if field.default is not dataclasses.MISSING:
            namespace[f"_default{i}"] = field.default
            params.append(f"{name}=_default{i}")
            body.append(f"    _set(node, {name!r}, {name})")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory{i}"] = field.default_factory
            params.append(f"{name}=_MISSING")
            body.append(f"    _set(node, {name!r}, _factory{i}() if {name} is _MISSING else {name})")
        else:
            params.append(name)
            body.append(f"    _set(node, {name!r}, {name})")
    signature = f"*, {', '.join(params)}" if params else ""
    code = f"def construct({signature}):\n    node = _new(_cls)\n" + "".join(line + "\n" for line in body)
    exec(code + "    return node\n", namespace)  # noqa: S102 - generated from the dataclass fields above
    return namespace["construct"]  # type: ignore[return-value]


def _shared_by_value(construct: Constructor) -> Constructor:
    """For node types whose one field is a string ``value`` (``SimpleWhitespace``, ``Newline``)."""
    shared: dict[str | None, CSTNode] = {}

    def construct_shared(**fields):
        value = fields.get("value")
        node = shared.get(value)
        if node is None:
            node = construct(**fields)
            if len(shared) < _MAX_SHARED and (value is None or type(value) is str):
                shared[value] = node
        return node

    return construct_shared


def _shared_trailing(construct: Constructor, simple: type, newline_type: type) -> Constructor:
    """``TrailingWhitespace`` without a comment, shared by the values of its whitespace and newline."""
    shared: dict[tuple, CSTNode] = {}

    def construct_shared(*, whitespace=dataclasses.MISSING, comment=None, newline=dataclasses.MISSING):
        if comment is not None or type(whitespace) is not simple or type(newline) is not newline_type:
            return construct(whitespace=whitespace, comment=comment, newline=newline)
        key = (whitespace.value, newline.value)
        node = shared.get(key)
        if node is None:
            node = construct(whitespace=whitespace, comment=None, newline=newline)
            if len(shared) < _MAX_SHARED:
                shared[key] = node
        return node

    return construct_shared


def _shared_punctuation(klass: type, construct: Constructor, simple: type) -> Constructor | None:
    """A token (``,`` ``.`` ``=``, a bracket, an operator) shared by the values of its whitespace fields
    and of its fixed text; None for a token type of some other shape."""
    whitespace, text = [], []
    for field in dataclasses.fields(klass):
        if field.name.startswith("whitespace") and field.default_factory is not dataclasses.MISSING:
            whitespace.append(field.name)
        elif field.default is None or isinstance(field.default, str):
            text.append((field.name, field.default))
        else:
            return None
    namespace: dict[str, object] = {
        "_construct": construct, "_simple": simple, "_shared": {}, "_MAX": _MAX_SHARED, "_MISSING": dataclasses.MISSING,
    }
    for i, (_, default) in enumerate(text):
        namespace[f"_default{i}"] = default
    params = [f"{name}=_MISSING" for name in whitespace] + [f"{name}=_default{i}" for i, (name, _) in enumerate(text)]
    args = ", ".join(f"{name}={name}" for name in [*whitespace, *(name for name, _ in text)])
    checks = " and ".join(f"type({name}) is _simple" for name in whitespace) or "True"
    key = ", ".join([*(f"{name}.value" for name in whitespace), *(name for name, _ in text)])
    signature = f"*, {', '.join(params)}" if params else ""
    code = (
        f"def construct_shared({signature}):\n"
        f"    if not ({checks}):\n"
        f"        return _construct({args})\n"
        f"    key = {f'({key},)' if key else '()'}\n"
        f"    node = _shared.get(key)\n"
        f"    if node is None:\n"
        f"        node = _construct({args})\n"
        f"        if len(_shared) < _MAX:\n"
        f"            _shared[key] = node\n"
        f"    return node\n"
    )
    exec(code, namespace)  # noqa: S102 - generated from the dataclass fields above
    return namespace["construct_shared"]  # type: ignore[return-value]


@functools.cache
def _node_classes_overriding() -> tuple[type, ...]:
    """Node classes below CSTNode that define their own ``__post_init__`` (none in libcst 1.x)."""
    found, pending = [], list(CSTNode.__subclasses__())
    while pending:
        klass = pending.pop()
        pending.extend(klass.__subclasses__())
        if "__post_init__" in vars(klass):
            found.append(klass)
    return tuple(found)
