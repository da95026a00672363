from __future__ import annotations

import os
import stat
import textwrap

import pytest
from click.testing import CliRunner

from nnlint.cli import lint, main
from nnlint.fixer import fix_file
from nnlint.runner import run
from tests.lint.dummy_rules import FlagDropout

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.5)  # keep this comment\n"
FIXED = "import torch.nn as nn\n\nlayer = nn.Identity(0.5)  # keep this comment\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fix_applies_safe_fixes_and_a_second_run_changes_nothing(project, dummy_registry):
    result = CliRunner().invoke(lint, ["a.py", "--fix", "--no-cache"])
    assert (project / "a.py").read_text() == FIXED
    assert result.exit_code == 0, result.output
    assert "Fixed 1" in result.output
    again = CliRunner().invoke(lint, ["a.py", "--fix", "--no-cache"])
    assert again.exit_code == 0 and (project / "a.py").read_text() == FIXED


def test_without_fix_the_file_is_untouched(project, dummy_registry):
    CliRunner().invoke(lint, ["a.py"])
    assert (project / "a.py").read_text() == BAD


def test_crlf_bom_and_latin1_survive_a_fix(tmp_path):
    path = tmp_path / "w.py"
    path.write_bytes(b"\xef\xbb\xbfimport torch.nn as nn\r\nlayer = nn.Dropout(0.5)\r\n")
    findings = run([str(path)], [FlagDropout]).findings
    assert fix_file(str(path), findings, [FlagDropout], {}, unsafe=False).applied == 1
    assert path.read_bytes() == b"\xef\xbb\xbfimport torch.nn as nn\r\nlayer = nn.Identity(0.5)\r\n"
    latin = tmp_path / "l.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\nimport torch.nn as nn\ns = '\xe9'\nlayer = nn.Dropout(0.5)\n")
    findings = run([str(latin)], [FlagDropout]).findings
    fix_file(str(latin), findings, [FlagDropout], {}, unsafe=False)
    assert latin.read_bytes() == b"# -*- coding: latin-1 -*-\nimport torch.nn as nn\ns = '\xe9'\nlayer = nn.Identity(0.5)\n"


def test_a_fix_that_breaks_the_syntax_leaves_the_file_untouched(tmp_path):
    from nnlint.rule import Rule

    class Breaks(FlagDropout):
        code = "NN906"

        def visit_Call(self, node):
            if self.ctx.qualname(node.func) == "torch.nn.Dropout":
                self.report(node, fix=Rule.fix("safe", (node.func, "nn.Identity(((")))

    path = tmp_path / "a.py"
    path.write_text(BAD)
    findings = run([str(path)], [Breaks]).findings
    outcome = fix_file(str(path), findings, [Breaks], {}, unsafe=False)
    assert outcome.applied == 0 and "does not parse" in outcome.error
    assert path.read_text() == BAD


def test_a_fix_that_never_converges_leaves_the_file_untouched(tmp_path):
    from nnlint.rule import Rule

    class Grows(FlagDropout):
        code = "NN907"

        def visit_Call(self, node):
            if self.ctx.qualname(node.func) == "torch.nn.Dropout":
                self.report(node, fix=Rule.fix("safe", (node, self.ctx.code(node) + " * 1")))

    path = tmp_path / "a.py"
    path.write_text(BAD)
    outcome = fix_file(str(path), run([str(path)], [Grows]).findings, [Grows], {}, unsafe=False)
    assert outcome.error and "converge" in outcome.error
    assert path.read_text() == BAD


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_file_is_reported_not_lost(tmp_path):
    path = tmp_path / "a.py"
    path.write_text(BAD)
    os.chmod(tmp_path, stat.S_IRUSR | stat.S_IXUSR)
    try:
        outcome = fix_file(str(path), run([str(path)], [FlagDropout]).findings, [FlagDropout], {}, unsafe=False)
    finally:
        os.chmod(tmp_path, stat.S_IRWXU)
    assert outcome.error and path.read_text() == BAD


def test_a_failed_write_leaves_the_original_byte_for_byte(tmp_path, monkeypatch):
    path = tmp_path / "a.py"
    path.write_bytes(BAD.encode())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("nnlint.fixer.os.replace", disk_full)
    outcome = fix_file(str(path), run([str(path)], [FlagDropout]).findings, [FlagDropout], {}, unsafe=False)
    assert outcome.error == "No space left on device"
    assert path.read_bytes() == BAD.encode()
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]  # no temp file left behind


LOCAL_RULE = textwrap.dedent(
    '''
    import libcst as cst
    from nnlint import Rule


    class NoPrint(Rule):
        """Flags print() in training code.

        ## What it does
        Flags print.
        ## Why is this bad?
        Use logging.
        ## Example
        ## Use instead
        """

        code = "LOC001"
        name = "no-print"
        message = "print() in training code; use logging"
        requires = ("print",)

        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Name) and node.func.value == "print":
                self.report(node)
    '''
)


def test_local_rules_from_config(tmp_path, monkeypatch):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "lint_rules.py").write_text(LOCAL_RULE)
    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\nlocal-rules = ["tools/lint_rules.py"]\n')
    (tmp_path / "train.py").write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(lint, ["train.py", "--no-cache"])
    assert result.exit_code == 1 and "LOC001" in result.output
    assert CliRunner().invoke(lint, ["train.py", "--ignore", "LOC", "--no-cache"]).exit_code == 0


def test_local_rules_listed_by_rule_command(tmp_path, monkeypatch, capsys):
    (tmp_path / "rules_here.py").write_text(LOCAL_RULE)
    (tmp_path / "nnlint.toml").write_text('local-rules = ["rules_here.py"]\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["rule", "LOC001"])
    assert "no-print" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("raise RuntimeError('broken import')\n", "RuntimeError: broken import"),
        ("x = 1\n", "defines no Rule subclass"),
        (LOCAL_RULE.replace('"LOC001"', '"bad code"'), "is not like"),
    ],
)
def test_broken_local_rules_are_a_one_line_error(tmp_path, monkeypatch, content, fragment):
    (tmp_path / "r.py").write_text(content)
    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\nlocal-rules = ["r.py"]\n')
    (tmp_path / "train.py").write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(lint, ["train.py"])
    assert result.exit_code == 2
    assert fragment in result.output and "pyproject.toml" in result.output
    assert len(result.output.strip().splitlines()) == 1
