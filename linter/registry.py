"""All rules, and the selection of rules by code or code prefix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnlint.rule import Rule

_CODE = re.compile(r"^[A-Z]{1,4}[0-9]{0,3}$")


class UnknownCodeError(ValueError):
    pass


def all_rules() -> list[type[Rule]]:
    from nnlint.rules import ALL_RULES

    return sorted(ALL_RULES, key=lambda r: r.code)


def rule_by_code(code: str, rules: Sequence[type[Rule]] | None = None) -> type[Rule] | None:
    for rule in rules if rules is not None else all_rules():
        if rule.code == code.upper() or rule.name == code.lower():
            return rule
    return None


def check_codes(codes: Iterable[str], rules: Sequence[type[Rule]], source: str) -> None:
    """Raise UnknownCodeError for a code or prefix that names no rule (NN000 is always known)."""
    known = [r.code for r in rules] + ["NN000"]
    for code in codes:
        if not _CODE.match(code) or not any(k.startswith(code) for k in known):
            raise UnknownCodeError(f"{source}: unknown rule code or prefix {code!r}")


def _matches(code: str, selectors: Iterable[str]) -> int:
    """Length of the longest selector that is a prefix of ``code`` (0: none)."""
    return max((len(s) for s in selectors if code.startswith(s)), default=0)


def select_rules(
    rules: Sequence[type[Rule]],
    select: Sequence[str] | None,
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
) -> list[type[Rule]]:
    """Rules enabled by select/ignore. The more specific selector wins (``--select NN1 --ignore NN101``).

    Without ``select``, the default-enabled rules run. A rule that is off by default runs when it is
    selected by its full code or by a prefix of ``extend_select``/``select``.
    """
    chosen = []
    for rule in rules:
        if select:
            on = _matches(rule.code, select)
            if on and not rule.default_enabled and on < len(rule.code) and not _matches(rule.code, extend_select):
                on = 0
        else:
            on = 1 if rule.default_enabled else 0  # weaker than any explicit selector
        on = max(on, _matches(rule.code, extend_select))
        off = _matches(rule.code, ignore)
        if on > off:
            chosen.append(rule)
    return chosen
