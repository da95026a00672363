"""Every rule's embedded VALID/INVALID cases, collected from the registry, plus the rule doc standard."""

from __future__ import annotations

import re

import pytest

from nnlint.registry import all_rules
from nnlint.testing import check_invalid, check_valid

RULES = all_rules()
VALID = [pytest.param(rule, case, id=f"{rule.code}-valid-{i}") for rule in RULES for i, case in enumerate(rule.VALID)]
INVALID = [
    pytest.param(rule, case, id=f"{rule.code}-invalid-{i}") for rule in RULES for i, case in enumerate(rule.INVALID)
]


@pytest.mark.parametrize(("rule", "case"), VALID)
def test_valid_case_is_silent(rule, case):
    check_valid(rule, case)


@pytest.mark.parametrize(("rule", "case"), INVALID)
def test_invalid_case_is_reported(rule, case):
    check_invalid(rule, case)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_meets_the_standard(rule):
    assert re.fullmatch(r"NN[1-9][0-9]{2}", rule.code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    assert rule.message and "\n" not in rule.message and rule.message != "STUB"
    doc = rule.__doc__ or ""
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert section in doc, f"{rule.code} docstring lacks {section!r}"
    if rule.fixable:
        assert "## Fix safety" in doc, f"{rule.code} has a fix but no 'Fix safety' section"
    assert rule.INVALID, f"{rule.code} has no INVALID case"
    assert len(rule.VALID) >= len(rule.INVALID), f"{rule.code}: fewer near-miss VALID cases than INVALID ones"


def test_codes_and_names_are_unique():
    codes = [r.code for r in RULES]
    names = [r.name for r in RULES]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
