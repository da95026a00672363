"""The base class of every rule.

A rule is one small class. It declares the node types it visits by defining ``visit_<Node>`` and
``leave_<Node>`` methods (libcst node class names, e.g. ``visit_Call``), the words a file must contain
for it to apply (``requires``), and its own VALID/INVALID snippets, which the test suite runs. The only
way out of a rule is ``self.report(node, ...)``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import libcst as cst

from nnlint.finding import Applicability, Severity
from nnlint.prefilter import rule_words

if TYPE_CHECKING:
    from nnlint.context import FileContext


@dataclass(frozen=True)
class Valid:
    """A snippet on which the rule must stay silent."""

    code: str
    options: Mapping[str, Any] = field(default_factory=dict)
    path: str = "case.py"

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", textwrap.dedent(self.code))


@dataclass(frozen=True)
class Invalid:
    """A snippet on which the rule must report, optionally on ``line`` and with ``fixed`` as its fix."""

    code: str
    line: int | None = None
    count: int | None = None
    message_contains: str | None = None
    fixed: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    path: str = "case.py"

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", textwrap.dedent(self.code))
        if self.fixed is not None:
            object.__setattr__(self, "fixed", textwrap.dedent(self.fixed))


@dataclass(frozen=True)
class Replacement:
    """A planned edit: replace ``node``'s source with ``new`` (a node or source text)."""

    node: cst.CSTNode
    new: cst.CSTNode | str


@dataclass(frozen=True)
class PlannedFix:
    applicability: Applicability
    replacements: tuple[Replacement, ...]
    description: str = ""


@dataclass(frozen=True)
class Report:
    node: cst.CSTNode
    message: str
    fix: PlannedFix | None
    top: cst.CSTNode | None = None  # the top-level statement holding ``node``, when known
    indent: tuple[str, ...] = ()  # indentation of the enclosing blocks, to render multi-line fixes in place


class Rule:
    """Subclass this, set the class attributes, and define ``visit_<Node>``/``leave_<Node>`` methods."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    message: ClassVar[str] = ""
    severity: ClassVar[Severity] = "warning"
    # Prefilter: every entry must occur in the file's text; a tuple entry means "any of these words".
    requires: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    default_enabled: ClassVar[bool] = True
    options: ClassVar[Mapping[str, Any]] = {}
    fixable: ClassVar[bool] = False
    VALID: ClassVar[Sequence[str | Valid]] = ()
    INVALID: ClassVar[Sequence[str | Invalid]] = ()

    def __init__(self, ctx: FileContext, options: Mapping[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.config: dict[str, Any] = {**self.options, **(options or {})}
        self.reports: list[Report] = []

    def report(self, node: cst.CSTNode, message: str | None = None, *, fix: PlannedFix | None = None) -> None:
        stack = self.ctx.stack
        top = stack[1] if len(stack) > 1 else (node if len(stack) == 1 else None)
        indent: tuple[str, ...] = ()
        if fix is not None:
            default = self.ctx.module.default_indent
            indent = tuple(b.indent if b.indent is not None else default for b in stack if isinstance(b, cst.IndentedBlock))
        self.reports.append(Report(node, message or self.message, fix, top, indent))

    @staticmethod
    def fix(
        applicability: Applicability, *replacements: Replacement | tuple[cst.CSTNode, cst.CSTNode | str], description: str = ""
    ) -> PlannedFix:
        reps = tuple(r if isinstance(r, Replacement) else Replacement(*r) for r in replacements)
        return PlannedFix(applicability, reps, description)

    @classmethod
    def summary(cls) -> str:
        return cls.message

    @classmethod
    def needs_chunk(cls, chunk: str) -> bool:
        """Whether the rule may need this top-level def/class (its source text) in a file it applies to;
        the prefilter blanks the chunks no active rule needs. Default: the chunk holds one of the
        ``requires`` words. Override it when ``requires`` holds cheap gate words broader than the code
        the rule reports, and with care: a rule that concludes something is absent from the file must
        keep every chunk that could show it present."""
        words = _CHUNK_WORDS.get(cls)
        if words is None:
            words = _CHUNK_WORDS[cls] = tuple(rule_words(cls.requires))
        return any(word in chunk for word in words)

    @classmethod
    def applies_to(cls, text: str) -> bool:
        for entry in cls.requires:
            if isinstance(entry, str):
                if not contains_word(text, entry):
                    return False
            elif not any(contains_word(text, word) for word in entry):
                return False
        return True


_CHUNK_WORDS: dict[type, tuple[str, ...]] = {}
_memo_text: str | None = None
_memo: dict[str, bool] = {}


def contains_word(text: str, word: str) -> bool:
    """``word in text``, remembered for the last text: the rules of one file share many words."""
    global _memo_text, _memo
    if text is not _memo_text:
        _memo_text, _memo = text, {}
    found = _memo.get(word)
    if found is None:
        found = _memo[word] = word in text
    return found
