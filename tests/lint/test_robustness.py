"""Never crash: odd files are findings or clear messages, and the other files are still linted."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from nnlint.cli import lint
from nnlint.engine import lint_source
from nnlint.registry import all_rules
from nnlint.runner import run
from tests.lint.dummy_rules import FlagDropout

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.5)\n"


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",  # segfaults libcst's native parser unguarded
        "x = " + "[" * 3000 + "]" * 3000 + "\n",
        "x = " + "not " * 30000 + "a\n",
        "x = " + "lambda: " * 30000 + "1\n",
        "x = " + "a if b else " * 30000 + "c\n",
        "x = f" + "()" * 3000 + "\n",
    ],
    ids=["parens", "lists", "not", "lambda", "ifexp", "calls"],
)
def test_deep_nesting_is_a_finding_not_a_crash(source):
    result = lint_source("deep.py", "import torch.nn as nn  # Dropout\n" + source, all_rules() + [FlagDropout])
    assert not result.errors
    assert [f.code for f in result.findings] == ["NN000"] or result.findings == []


def test_one_megabyte_line():
    source = "import torch.nn as nn\nx = [" + "1, " * 330_000 + "]\nlayer = nn.Dropout(0.1)\n"
    result = lint_source("long.py", source, [FlagDropout])
    assert [(f.code, f.line) for f in result.findings] == [("NN901", 3)]


def test_huge_file_is_reported_not_parsed(tmp_path):
    path = tmp_path / "huge.py"
    with open(path, "w") as handle:
        handle.write("import torch.nn as nn\n")
        line = "x = nn.Dropout(0.1)  # " + "p" * 60 + "\n"
        handle.write(line * (50_000_000 // len(line)))
    (tmp_path / "ok.py").write_text(BAD)
    result = run([str(path), str(tmp_path / "ok.py")], [FlagDropout], jobs=1)
    by_file = {(os.path.basename(f.path), f.code) for f in result.findings}
    assert by_file == {("huge.py", "NN000"), ("ok.py", "NN901")}
    assert "too large" in next(f.message for f in result.findings if f.code == "NN000")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.py"
    path.write_text(BAD)
    path.chmod(0)
    (finding,) = run([str(path)], [FlagDropout]).findings
    assert finding.code == "NN000" and "permission denied" in finding.message


def test_vanishing_and_directory_paths(tmp_path):
    (tmp_path / "dir.py").mkdir()
    results = run([str(tmp_path / "gone.py"), str(tmp_path / "dir.py")], [FlagDropout]).findings
    assert sorted(f.message for f in results) == ["cannot read: is a directory", "cannot read: the file disappeared during the run"]


def test_a_worker_crash_costs_only_its_file(tmp_path, monkeypatch):
    import nnlint.runner as runner

    for i in range(10):
        (tmp_path / f"m{i}.py").write_text(BAD + "\n" * 30_000)
    (tmp_path / "crash.py").write_text(BAD + "# CRASH-ME\n" + "\n" * 30_000)
    real = runner.lint_path

    def crashing(path, rules, options):
        if path.endswith("crash.py"):
            os._exit(139)  # what a segfault in a native parser looks like from outside
        return real(path, rules, options)

    monkeypatch.setattr(runner, "lint_path", crashing)
    paths = sorted(str(p) for p in tmp_path.iterdir())
    result = runner.run(paths, [FlagDropout], jobs=2)
    codes = {os.path.basename(f.path): f.code for f in result.findings}
    assert codes.pop("crash.py") == "NN000"
    assert set(codes.values()) == {"NN901"} and len(codes) == 10


def test_a_mixed_tree_lints_everything_else(tmp_path, monkeypatch, dummy_registry):
    (tmp_path / "ok.py").write_text(BAD)
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + BAD.encode().replace(b"\n", b"\r\n"))
    (tmp_path / "latin.py").write_bytes(b"x = '\xe9'\n")
    (tmp_path / "nul.py").write_bytes(b"\x00\x00")
    (tmp_path / "dir.py").mkdir()
    os.symlink(tmp_path, tmp_path / "loop")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(lint, [".", "--no-cache"])
    assert result.exit_code == 1
    lines = sorted(line.split(":")[0] + " " + line.split()[1] for line in result.output.splitlines() if ": NN" in line)
    assert lines == ["bom.py NN901", "latin.py NN000", "nul.py NN000", "ok.py NN901"]  # dir.py is a folder: walked


hypothesmith = pytest.importorskip("hypothesmith")


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=hypothesmith.from_grammar())
def test_generated_programs_from_grammar_never_break_a_rule(source):
    result = lint_source("gen.py", source, all_rules(), chunking=False)
    assert not result.errors, result.errors


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=hypothesmith.from_node())
def test_generated_programs_from_nodes_never_break_a_rule(source):
    result = lint_source("gen.py", "import torch\nimport torch.nn as nn\n" + source, all_rules(), chunking=False)
    assert not result.errors, result.errors


def test_long_chains_of_implicitly_concatenated_strings():
    # pydoc_data/topics.py has thousands of adjacent string literals: a recursive walk overflows.
    source = "import torch.nn as nn\ntopics = {'a': " + " ".join(["'x'"] * 1200) + "}\nlayer = nn.Dropout(0.1)\n"
    result = lint_source("topics.py", source, all_rules() + [FlagDropout])
    assert not result.errors
    assert [(f.code, f.line) for f in result.findings] == [("NN901", 3)]
