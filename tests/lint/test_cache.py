from __future__ import annotations

import json

from click.testing import CliRunner

from nnlint.cli import lint
from nnlint.runner import run
from tests.lint.dummy_rules import FlagDropout, Scopes

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.5)\n"


def test_warm_run_answers_from_the_cache(tmp_path, monkeypatch):
    src = tmp_path / "a.py"
    src.write_text(BAD)
    cache = tmp_path / "cache"
    cold = run([str(src)], [FlagDropout], cache_dir=str(cache))
    assert (cache / ".gitignore").read_text().strip().endswith("*")

    def no_lint(*args, **kwargs):
        raise AssertionError("a cached file was linted again")

    monkeypatch.setattr("nnlint.runner.lint_path", no_lint)
    warm = run([str(src)], [FlagDropout], cache_dir=str(cache))
    assert warm.findings == cold.findings
    assert warm.findings[0].fix == cold.findings[0].fix


def test_changed_content_rules_or_options_miss_the_cache(tmp_path):
    src = tmp_path / "a.py"
    src.write_text(BAD)
    cache = str(tmp_path / "cache")
    run([str(src)], [FlagDropout], cache_dir=cache)
    src.write_text(BAD + "other = nn.Dropout(0.1)\n")
    assert len(run([str(src)], [FlagDropout], cache_dir=cache).findings) == 2
    assert run([str(src)], [Scopes], cache_dir=cache).findings == []
    entries = len(list((tmp_path / "cache").rglob("*.json")))
    run([str(src)], [FlagDropout], {"NN901": {"x": 1}}, cache_dir=cache)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == entries + 1


def test_corrupt_or_foreign_entries_are_ignored(tmp_path):
    src = tmp_path / "a.py"
    src.write_text(BAD)
    cache = tmp_path / "cache"
    expected = run([str(src)], [FlagDropout], cache_dir=str(cache)).findings
    (entry,) = list(cache.rglob("*.json"))
    for garbage in ("{not json", json.dumps({"key": "other", "findings": []}), json.dumps({"key": entry.stem, "findings": [{}]})):
        entry.write_text(garbage)
        assert run([str(src)], [FlagDropout], cache_dir=str(cache)).findings == expected


def test_cli_no_cache_writes_nothing(tmp_path, monkeypatch, dummy_registry):
    (tmp_path / "a.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(lint, ["a.py", "--no-cache"])
    assert not (tmp_path / ".nnlint_cache").exists()
    CliRunner().invoke(lint, ["a.py"])
    assert (tmp_path / ".nnlint_cache").is_dir()
    custom = tmp_path / "elsewhere"
    result = CliRunner().invoke(lint, ["a.py", "--cache-dir", str(custom)])
    assert result.exit_code == 1 and custom.is_dir()


def test_unwritable_cache_does_not_fail_the_lint(tmp_path):
    src = tmp_path / "a.py"
    src.write_text(BAD)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    assert len(run([str(src)], [FlagDropout], cache_dir=str(blocker)).findings) == 1
