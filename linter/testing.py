"""Run a rule's embedded VALID/INVALID cases (the test suite collects them for every rule)."""

from __future__ import annotations

from nnlint.engine import lint_source
from nnlint.fixes import apply_fixes
from nnlint.rule import Invalid, Rule, Valid


def as_valid(case: str | Valid) -> Valid:
    return case if isinstance(case, Valid) else Valid(case)


def as_invalid(case: str | Invalid) -> Invalid:
    return case if isinstance(case, Invalid) else Invalid(case)


def check_valid(rule: type[Rule], case: str | Valid) -> None:
    case = as_valid(case)
    result = lint_source(case.path, case.code, [rule], {rule.code: case.options})
    assert not result.errors, f"{rule.code} raised: {result.errors}"
    own = [f for f in result.findings if f.code == rule.code]
    assert not own, f"{rule.code} must stay silent on:\n{case.code}\nbut reported:\n" + "\n".join(
        f"  line {f.line}: {f.message}" for f in own
    )


def check_invalid(rule: type[Rule], case: str | Invalid) -> None:
    case = as_invalid(case)
    result = lint_source(case.path, case.code, [rule], {rule.code: case.options})
    assert not result.errors, f"{rule.code} raised: {result.errors}"
    syntax = [f for f in result.findings if f.code == "NN000"]
    assert not syntax, f"INVALID case of {rule.code} does not parse: {syntax[0].message}\n{case.code}"
    own = [f for f in result.findings if f.code == rule.code]
    assert own, f"{rule.code} must report on:\n{case.code}"
    if case.line is not None:
        assert any(f.line == case.line for f in own), (
            f"{rule.code} reported on lines {[f.line for f in own]}, expected {case.line}:\n{case.code}"
        )
    if case.count is not None:
        assert len(own) == case.count, f"{rule.code} reported {len(own)} findings, expected {case.count}"
    if case.message_contains is not None:
        assert any(case.message_contains in f.message for f in own), [f.message for f in own]
    if case.fixed is not None:
        fixed, applied = apply_fixes(case.code, own, unsafe=True)
        assert applied, f"{rule.code} offered no fix on:\n{case.code}"
        assert fixed == case.fixed, f"{rule.code} fix gave:\n{fixed}\nexpected:\n{case.fixed}"
