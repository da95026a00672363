"""The installed console script and the pre-commit hook, run for real in subprocesses."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BAD = "import torch.nn as nn\n\nhead = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.BatchNorm1d(8))\n"
GOOD = "import torch.nn as nn\n\nhead = nn.Sequential(nn.Linear(8, 8, bias=False), nn.BatchNorm1d(8), nn.Dropout(0.5))\n"


def nnlint(*args, cwd):
    exe = shutil.which("nnlint") or ""
    cmd = [exe, *args] if exe else [sys.executable, "-m", "nnlint.cli", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_console_script_exit_codes_and_json(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text(GOOD)
    result = nnlint("bad.py", "good.py", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert [(f["path"], f["code"]) for f in data["findings"]] == [("bad.py", "NN301")]
    assert nnlint("good.py", cwd=tmp_path).returncode == 0
    missing = nnlint("nope.py", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "nope.py" in missing.stderr


def test_syntax_error_file_is_nn000_not_a_traceback(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n")
    (tmp_path / "bad.py").write_text(BAD)
    result = nnlint(".", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "broken.py:1:7: NN000" in result.stdout and "bad.py:3:" in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed for pre-commit")
def test_pre_commit_hook_fails_then_passes(tmp_path):
    pytest.importorskip("pre_commit")
    repo = tmp_path / "user-repo"
    repo.mkdir()
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pc-home"), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def sh(*cmd, cwd=repo):
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)

    # try-repo needs a git repository: make a throwaway clone of the working tree as it is now.
    hook_repo = tmp_path / "hook-repo"
    shutil.copytree(ROOT, hook_repo, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "__pycache__", ".nnlint_cache"))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "hook"]):
        assert sh(*cmd, cwd=hook_repo).returncode == 0
    sh("git", "init", "-q")
    (repo / "model.py").write_text(BAD)
    sh("git", "add", "model.py")
    first = sh(sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "nnlint", "--files", "model.py")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "NN301" in first.stdout
    (repo / "model.py").write_text(GOOD)
    second = sh(sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "nnlint", "--files", "model.py")
    assert second.returncode == 0, second.stdout + second.stderr
