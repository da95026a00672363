"""Lint one file: decode, prefilter, parse once, one traversal for all rules, positions for reports only."""

from __future__ import annotations

import ast
import contextlib
import gc
import io
import re
import tokenize
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import libcst as cst

from nnlint.context import FileContext
from nnlint.finding import Edit, Finding, Fix
from nnlint.parsing import parse_module_unvalidated
from nnlint.positions import PositionIndex
from nnlint.prefilter import blank_irrelevant_chunks
from nnlint.results import SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME, FileResult, InternalError, syntax_error  # noqa: F401 - re-exported
from nnlint.rule import Report, Rule
from nnlint.suppress import parse_suppressions
from nnlint.walker import node_types_of, walk

# Larger files are reported, not parsed: libcst's tree would take gigabytes.
MAX_SOURCE_CHARS = 10_000_000


def decode_source(data: bytes) -> str:
    """Decode per PEP 263 (BOM, coding cookie, default UTF-8); raises UnicodeDecodeError/SyntaxError."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def _cpython_error(path: str, exc: SyntaxError) -> Finding:
    return syntax_error(path, f"cannot parse: {exc.msg}", max(exc.lineno or 1, 1), max(exc.offset or 1, 1))


def _parse_error_finding(path: str, exc: cst.ParserSyntaxError, py_error: SyntaxError | None) -> Finding:
    """CPython's message and location where it agrees the code is invalid (they are the clearest)."""
    if py_error is not None:
        return _cpython_error(path, py_error)
    reason = getattr(exc, "message", "") or (str(exc).strip().splitlines() or ["invalid syntax"])[0]
    reason = re.sub(r"^(parser error: )?(error at \d+:\d+: )?", "", reason.strip()) or "invalid syntax"
    # CPython accepted the file: the code is valid, only libcst's grammar lacks this construct.
    message = f"cannot lint: valid Python that libcst's parser does not support here ({reason}); the file is skipped"
    return syntax_error(path, message, max(exc.raw_line, 1), max(exc.raw_column, 0) + 1)


def lint_source(
    path: str,
    data: bytes | str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    chunking: bool = True,
) -> FileResult:
    """Lint one file's content with the given rule classes; never raises for bad input."""
    with _collector_paused():
        return _lint(path, data, rules, options, chunking)


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while one file is linted.

    Parsing builds hundreds of thousands of objects that all stay alive until the file is done, so
    every automatic collection re-traverses a growing tree and frees nothing: about a fifth of the
    CPU time on the timm wheel. Reference counting still frees everything acyclic at once; the cycles
    a file leaves (rules' scope trees) are collected by the first automatic collection after it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _lint(
    path: str,
    data: bytes | str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Mapping[str, Any]] | None,
    chunking: bool,
) -> FileResult:
    result = FileResult(path)
    if isinstance(data, bytes):
        if b"\x00" in data:
            result.findings.append(syntax_error(path, "cannot parse: source contains a null byte"))
            return result
        try:
            source = decode_source(data)
        except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
            result.findings.append(syntax_error(path, f"cannot decode: {exc}"))
            return result
    else:
        source = data
        if "\x00" in source:
            result.findings.append(syntax_error(path, "cannot parse: source contains a null byte"))
            return result

    if len(source) > MAX_SOURCE_CHARS:
        size = len(source) / 1e6
        message = f"cannot lint: the file is too large ({size:.1f} MB; the limit is {MAX_SOURCE_CHARS // 10**6} MB); exclude it"
        result.findings.append(syntax_error(path, message))
        return result
    # CPython's parser first: it is fast, its messages are the clearest, and it refuses the deep
    # nesting that makes libcst's native parser overflow its stack.
    tree: ast.Module | None = None
    py_error: SyntaxError | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are the user's compiler's business
            tree = ast.parse(source)
    except SyntaxError as exc:
        if "too many nested" in exc.msg or "too many statically nested" in exc.msg:
            result.findings.append(_cpython_error(path, exc))
            return result
        py_error = exc
    except (RecursionError, MemoryError, ValueError) as exc:
        result.findings.append(syntax_error(path, f"cannot parse: the code nests too deeply ({type(exc).__name__})"))
        return result

    active = [rule for rule in rules if rule.applies_to(source)]
    if not active and py_error is None:
        return result  # nothing can match: never parsed by libcst
    needed = None  # None: keep every chunk (a rule without prefilter words needs them all)
    if chunking and all(r.requires for r in active):

        def needed(chunk: str) -> bool:
            return any(rule.needs_chunk(chunk) for rule in active)

    parse_text, statements = blank_irrelevant_chunks(source, needed, tree)
    try:
        module = parse_module_unvalidated(parse_text)
    except cst.ParserSyntaxError as exc:
        result.findings.append(_parse_error_finding(path, exc, py_error))
        return result
    except (RecursionError, MemoryError) as exc:
        result.findings.append(syntax_error(path, f"cannot parse: the code nests too deeply ({type(exc).__name__})"))
        return result
    if not active:
        return result

    ctx = FileContext(path=path, source=source, module=module)
    ctx.imports.collect(module)
    instances: list[Rule] = []
    visitors: dict[type, list] = {}
    leavers: dict[type, list] = {}
    for rule_type in active:
        try:
            rule = rule_type(ctx, (options or {}).get(rule_type.code))
        except Exception as exc:  # noqa: BLE001 - a broken rule must not stop the run
            result.errors.append(InternalError(path, rule_type.code, f"{type(exc).__name__}: {exc}"))
            continue
        instances.append(rule)

    failed: dict[str, str] = {}
    for rule in instances:
        for kind, node_type, method in node_types_of(type(rule)):
            table = visitors if kind == "visit" else leavers
            table.setdefault(node_type, []).append(_guarded(rule, getattr(rule, method), failed))
    try:
        walk(module, ctx, visitors, leavers)
    except RecursionError:
        result.findings.append(syntax_error(path, "cannot lint: the file nests too deeply"))
        return result

    for code, reason in failed.items():
        if reason:
            result.errors.append(InternalError(path, code, reason))
    reports = [(rule, rep) for rule in instances if rule.code not in failed for rep in rule.reports]
    if reports:
        result.findings.extend(_to_findings(path, source, module, PositionIndex(module, parse_text, statements), reports))
    return result


def _guarded(rule: Rule, method, failed: dict[str, str]):
    """Call ``method``; if it raises, record why and switch the rule off for the rest of the file."""

    def call(node: cst.CSTNode) -> None:
        if rule.code in failed:
            return
        try:
            method(node)
        except RecursionError:
            # The code nests deeper than the rule's own analysis can follow: the rule stays silent on
            # this file (precision first), which is no bug of the user's and no reason to fail the run.
            failed[rule.code] = ""
        except Exception as exc:  # noqa: BLE001 - a broken rule must not stop the run
            failed[rule.code] = f"{type(exc).__name__}: {exc}"

    return call


def _to_findings(
    path: str, source: str, module: cst.Module, positions: PositionIndex, reports: list[tuple[Rule, Report]]
) -> list[Finding]:
    suppressions = parse_suppressions(source)
    findings: list[Finding] = []
    seen: set[tuple] = set()
    for rule, rep in reports:
        try:
            pos = positions.get(rep.node, rep.top)
        except RecursionError:  # libcst's code generation is recursive: a finding too deep to place
            pos = None
        if pos is None:
            continue
        line, col = pos.start.line, pos.start.column + 1
        end_line, end_col = pos.end.line, pos.end.column + 1
        if suppressions.suppresses(rule.code, line):
            continue
        key = (rule.code, line, col, end_line, end_col, rep.message)
        if key in seen:
            continue
        seen.add(key)
        fix = _to_fix(module, positions, rep)
        findings.append(Finding(path, line, col, end_line, end_col, rule.code, rule.name, rep.message, rule.severity, fix))
    return findings


def render_in_place(module: cst.Module, node: cst.CSTNode, indent: tuple[str, ...]) -> str:
    """Source of ``node`` as it will sit inside blocks indented by ``indent``: continuation lines of a
    multi-line expression get the blocks' indentation, which ``Module.code_for_node`` leaves out."""
    try:
        from libcst._nodes.internal import CodegenState

        state = CodegenState(default_indent=module.default_indent, default_newline=module.default_newline)
        state.indent_tokens = list(indent)
        node._codegen(state)
        return "".join(state.tokens)
    except (ImportError, AttributeError, TypeError):  # libcst internals moved: the public road
        return module.code_for_node(node)


def _to_fix(module: cst.Module, positions: PositionIndex, rep: Report) -> Fix | None:
    if rep.fix is None:
        return None
    edits = []
    for replacement in rep.fix.replacements:
        pos = positions.get(replacement.node, rep.top)
        if pos is None:
            return None
        new = replacement.new if isinstance(replacement.new, str) else render_in_place(module, replacement.new, rep.indent)
        edits.append(Edit(pos.start.line, pos.start.column + 1, pos.end.line, pos.end.column + 1, new))
    return Fix(rep.fix.applicability, tuple(sorted(edits)), rep.fix.description)
