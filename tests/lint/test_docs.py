"""The rule table in the README and docs/rules.md are generated from the registry, never hand-kept."""

from __future__ import annotations

import pathlib

from nnlint.docs import rule_markdown, rules_document, update_readme
from nnlint.registry import all_rules

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_readme_rule_table_is_generated():
    readme = (ROOT / "README.md").read_text()
    assert update_readme(readme, all_rules()) == readme, "run: python -m nnlint.docs"


def test_docs_rules_md_is_generated():
    assert (ROOT / "docs" / "rules.md").read_text() == rules_document(all_rules()), "run: python -m nnlint.docs"


def test_rule_page_has_every_section():
    for rule in all_rules():
        page = rule_markdown(rule)
        assert page.startswith(f"# {rule.name} ({rule.code})")
        assert "## Why is this bad?" in page
