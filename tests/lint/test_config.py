from __future__ import annotations

import pytest
from click.testing import CliRunner

from nnlint.cli import lint

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.5)\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "src" / "gen").mkdir(parents=True)
    (tmp_path / "src" / "bad.py").write_text(BAD)
    (tmp_path / "src" / "gen" / "made.py").write_text(BAD)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    return CliRunner().invoke(lint, list(args))


def test_pyproject_select_and_ignore(project, dummy_registry):
    (project / "pyproject.toml").write_text('[tool.nnlint]\nignore = ["NN901"]\n')
    assert run(".").exit_code == 0
    (project / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN902"]\n')
    assert run(".").exit_code == 0


def test_cli_select_overrides_config(project, dummy_registry):
    (project / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN902"]\n')
    assert run(".", "--select", "NN901").exit_code == 1


def test_config_is_found_from_a_subdirectory(project, dummy_registry, monkeypatch):
    (project / "pyproject.toml").write_text('[tool.nnlint]\nignore = ["NN9"]\n')
    monkeypatch.chdir(project / "src")
    assert run("bad.py").exit_code == 0


def test_pyproject_without_our_table_is_skipped(project, dummy_registry):
    (project / "src" / "pyproject.toml").write_text('[tool.black]\nline-length = 80\n')
    (project / "pyproject.toml").write_text('[tool.nnlint]\nignore = ["NN901"]\n')
    assert run("src").exit_code == 0


def test_nnlint_toml(project, dummy_registry):
    (project / "nnlint.toml").write_text('ignore = ["NN901"]\n')
    assert run(".").exit_code == 0


def test_exclude(project, dummy_registry):
    (project / "pyproject.toml").write_text('[tool.nnlint]\nexclude = ["src/gen", "tests"]\n')
    result = run(".")
    assert "src/bad.py" in result.output and "made.py" not in result.output and "test_x" not in result.output


def test_per_file_ignores(project, dummy_registry):
    (project / "pyproject.toml").write_text('[tool.nnlint.per-file-ignores]\n"tests/*" = ["NN901"]\n"**/gen/*" = ["NN9"]\n')
    result = run(".")
    assert "src/bad.py" in result.output and "test_x" not in result.output and "made.py" not in result.output


def test_explicit_config_flag(project, dummy_registry, tmp_path_factory):
    other = tmp_path_factory.mktemp("cfg") / "custom.toml"
    other.write_text('[tool.nnlint]\nignore = ["NN901"]\n')
    assert run(".", "--config", str(other)).exit_code == 0


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('[tool.nnlint]\nselekt = ["NN901"]\n', "tool.nnlint.selekt: unknown key"),
        ('[tool.nnlint]\nselect = ["NN999"]\n', "unknown rule code or prefix 'NN999'"),
        ('[tool.nnlint]\nselect = "NN9"\nignore = [1]\n', "tool.nnlint.ignore must be a list"),
        ('[tool.nnlint.rules.NN901]\nfoo = 1\n', "tool.nnlint.rules.NN901.foo: unknown option for NN901"),
        ('[tool.nnlint.rules.NN999]\nfoo = 1\n', "tool.nnlint.rules.NN999: unknown rule code"),
        ("[tool.nnlint\nselect = 1\n", "invalid TOML"),
    ],
)
def test_config_errors_exit_2_naming_file_and_key(project, dummy_registry, content, fragment):
    (project / "pyproject.toml").write_text(content)
    result = run(".")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "pyproject.toml" in lines[0] and fragment in lines[0], lines


def test_missing_config_file(project, dummy_registry):
    result = run(".", "--config", "nope.toml")
    assert result.exit_code == 2 and "nope.toml" in result.output


def test_rule_options_are_type_checked(project, monkeypatch):
    from nnlint.config import ConfigError, parse_table, validate
    from tests.lint.dummy_rules import FlagDropout

    class WithOptions(FlagDropout):
        code = "NN905"
        options = {"names": ["val"], "threshold": 0.5}

    config = parse_table({"rules": {"NN905": {"names": ["a"], "threshold": 1}}}, "pyproject.toml")
    validate(config, [WithOptions])
    assert config.rule_options["NN905"] == {"names": ["a"], "threshold": 1}
    bad = parse_table({"rules": {"NN905": {"names": "a"}}}, "pyproject.toml")
    with pytest.raises(ConfigError, match="expected list"):
        validate(bad, [WithOptions])
