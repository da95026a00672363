from __future__ import annotations

import pytest

from tests.lint.dummy_rules import Explodes, FlagDropout, Scopes


@pytest.fixture
def dummy_registry(monkeypatch):
    """Make the CLI see only the engine-test rules (fast, and independent of the real catalogue)."""
    rules = [FlagDropout, Scopes]
    monkeypatch.setattr("nnlint.registry.all_rules", lambda: list(rules))
    monkeypatch.setattr("nnlint.cli.all_rules", lambda: list(rules))
    return rules


@pytest.fixture
def exploding_registry(monkeypatch):
    rules = [FlagDropout, Explodes]
    monkeypatch.setattr("nnlint.registry.all_rules", lambda: list(rules))
    monkeypatch.setattr("nnlint.cli.all_rules", lambda: list(rules))
    return rules
