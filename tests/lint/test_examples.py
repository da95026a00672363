"""The bundled examples: the buggy script shows each seed rule once; everything else is clean."""

from __future__ import annotations

import pathlib

from nnlint.registry import all_rules, select_rules
from nnlint.runner import run

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
DEFAULT_RULES = select_rules(all_rules(), None)


def test_buggy_script_has_the_five_recipe_bugs():
    findings = run([str(EXAMPLES / "train_buggy.py")], DEFAULT_RULES).findings
    assert sorted(f.code for f in findings) == ["NN101", "NN201", "NN202", "NN301", "NN401"]


def test_clean_script_and_model_files_are_clean():
    files = [str(EXAMPLES / "train_clean.py"), *(str(p) for p in sorted((EXAMPLES / "models").glob("*.py")))]
    findings = run(files, DEFAULT_RULES).findings
    assert findings == [], [f"{f.path}:{f.line} {f.code} {f.message}" for f in findings]
