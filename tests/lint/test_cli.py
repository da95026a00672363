from __future__ import annotations

import json
import os
import pathlib

import jsonschema
import pytest
from click.testing import CliRunner

from nnlint.cli import lint, main

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.5)\n"
CLEAN = "import torch\n\nx = torch.zeros(3)\n"
SCHEMA = pathlib.Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.py").write_text(BAD)
    (tmp_path / "src" / "clean.py").write_text(CLEAN)
    (tmp_path / "src" / "notes.txt").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(lint, list(args), catch_exceptions=False)


def test_text_output_and_exit_code(project, dummy_registry):
    result = invoke("src")
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first == "src/bad.py:3:9: NN901 [*] dropout here"
    assert "Found 1 finding in 2 files" in result.output


def test_clean_exit_zero(project, dummy_registry):
    result = invoke("src/clean.py")
    assert result.exit_code == 0
    assert "All checks passed!" in result.output


def test_exit_zero_flag(project, dummy_registry):
    assert invoke("src", "--exit-zero").exit_code == 0


def test_default_path_is_cwd(project, dummy_registry):
    result = invoke()
    assert result.exit_code == 1 and "src/bad.py" in result.output


def test_json_output_matches_contract(project, dummy_registry):
    result = invoke("src", "--format", "json")
    data = json.loads(result.output)
    assert data["version"].startswith("0.")
    (finding,) = data["findings"]
    assert set(finding) >= {"path", "line", "column", "end_line", "end_column", "code", "name", "severity", "message", "fix"}
    assert finding["path"] == "src/bad.py" and finding["line"] == 3 and finding["column"] == 9
    assert finding["fix"]["applicability"] == "safe" and finding["fix"]["edits"][0]["content"] == "nn.Identity"
    assert data["summary"]["files"] == 2 and data["summary"]["findings"] == 1
    assert isinstance(data["summary"]["seconds"], float)


def test_sarif_validates_against_the_2_1_0_schema(project, dummy_registry):
    result = invoke("src", "--format", "sarif")
    data = json.loads(result.output)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(data, schema)
    run = data["runs"][0]
    assert run["tool"]["driver"]["rules"][run["results"][0]["ruleIndex"]]["id"] == "NN901"
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 3 and region["startColumn"] == 9
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/bad.py"
    assert run["tool"]["driver"]["rules"][0]["help"]["text"]


def test_sarif_with_a_syntax_error_validates(project, dummy_registry):
    (project / "src" / "broken.py").write_text("def f(:\n")
    data = json.loads(invoke("src", "--format", "sarif").output)
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    assert {r["ruleId"] for r in data["runs"][0]["results"]} == {"NN000", "NN901"}


def test_github_format(project, dummy_registry):
    result = invoke("src", "--format", "github")
    assert result.output.strip() == "::warning file=src/bad.py,line=3,col=9,endLine=3,endColumn=24,title=NN901::NN901 dropout here"


def test_output_file(project, dummy_registry):
    result = invoke("src", "--format", "json", "--output-file", "report.json")
    assert result.output == ""
    assert json.loads((project / "report.json").read_text())["summary"]["findings"] == 1


def test_statistics(project, dummy_registry):
    (project / "src" / "more.py").write_text(BAD + "other = nn.Dropout(0.1)\n")
    result = invoke("src", "--statistics")
    assert result.output.splitlines()[0] == "    3  NN901  [*] flag-dropout"
    assert "src/bad.py" not in result.output


@pytest.mark.parametrize(
    "args, ok",
    [
        (("--select", "NN901"), False),
        (("--select", "NN9"), False),
        (("--select", "NN902"), True),
        (("--ignore", "NN901"), True),
        (("--ignore", "NN9"), True),
        (("--select", "NN9", "--ignore", "NN901"), True),
        (("--select", "NN902,NN901"), False),
    ],
)
def test_select_and_ignore(project, dummy_registry, args, ok):
    assert invoke("src", *args).exit_code == (0 if ok else 1)


@pytest.mark.parametrize("args", [("--select", "NN777"), ("--ignore", "XX1"), ("--format", "xml"), ("--bogus",)])
def test_usage_errors_exit_2(project, dummy_registry, args):
    result = CliRunner().invoke(lint, ["src", *args])
    assert result.exit_code == 2


def test_missing_path_is_exit_2_with_one_line(project, dummy_registry):
    result = CliRunner().invoke(lint, ["nope.py"])
    assert result.exit_code == 2
    assert result.output.strip() == "nnlint: error: nope.py: no such file or directory"


def test_bad_files_are_findings_and_the_rest_is_linted(project, dummy_registry):
    (project / "src" / "broken.py").write_text("def f(:\n    pass\n")
    (project / "src" / "latin.py").write_bytes(b"x = '\xe9'\n")
    (project / "src" / "nul.py").write_bytes(b"x = 1\x00\n")
    result = invoke("src")
    assert result.exit_code == 1
    codes = [line.split()[1] for line in result.output.splitlines() if line.startswith("src/")]
    assert sorted(codes) == ["NN000", "NN000", "NN000", "NN901"]


def test_internal_error_exits_2_and_names_rule_and_file(project, exploding_registry):
    result = CliRunner(mix_stderr=False).invoke(lint, ["src"]) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner().invoke(lint, ["src"])
    assert result.exit_code == 2
    assert "NN903" in (result.stderr if hasattr(result, "stderr") else result.output)
    assert "src/bad.py" in result.output  # the other rule still reported


def test_stable_order_across_jobs(project, dummy_registry):
    for i in range(12):
        (project / "src" / f"m{i:02d}.py").write_text(BAD * 3 + "x = 1\n" * 5000)
    one = invoke("src", "--jobs", "1", "--format", "json")
    two = invoke("src", "--jobs", "2", "--format", "json")
    strip = lambda out: [(f["path"], f["line"], f["column"]) for f in json.loads(out)["findings"]]  # noqa: E731
    assert strip(one.output) == strip(two.output)
    assert strip(one.output) == sorted(strip(one.output))


def test_discovery_skips_venvs_and_caches(project, dummy_registry):
    for skipped in (".venv/lib", "build", "__pycache__", "node_modules", "pkg.egg-info", "myenv"):
        (project / "src" / skipped).mkdir(parents=True)
        (project / "src" / skipped / "x.py").write_text(BAD)
    (project / "src" / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    result = invoke("src")
    assert result.output.count("NN901") == 1


def test_explicit_file_is_always_linted(project, dummy_registry):
    (project / "build").mkdir()
    (project / "build" / "gen.py").write_text(BAD)
    assert invoke("build/gen.py").exit_code == 1


def test_symlink_loop_and_py_directory(project, dummy_registry):
    os.symlink(project / "src", project / "src" / "loop")
    (project / "src" / "weird.py").mkdir()
    result = invoke("src")
    assert result.exit_code == 1
    assert result.output.count("NN901") == 1


def test_rule_docs_command(dummy_registry):
    result = CliRunner().invoke(lint, ["--version"])
    assert "nnlint" in result.output


def test_main_dispatches_rule_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["rule", "--all", "--format", "json"])
    assert exit_info.value.code in (0, None)
    records = json.loads(capsys.readouterr().out)
    assert {"code", "name", "summary", "fixable", "default"} <= set(records[0])


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from nnlint import progress as progress_module
    from nnlint.engine import FileResult

    with progress_module.progress(500, enabled=True) as callback:
        assert callback is None  # pytest's stderr is not a terminal
    monkeypatch.setattr(progress_module.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(progress_module, "SHOW_AFTER_S", 0.0)
    with progress_module.progress(500, enabled=False) as callback:
        assert callback is None  # JSON/SARIF/GitHub output: never
    with progress_module.progress(500, enabled=True) as callback:
        assert callback is not None
        for i in range(3):
            callback(FileResult(f"f{i}.py"))
