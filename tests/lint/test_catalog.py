"""A run answered from the cache reads the rule catalog and never imports the rules or libcst."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from nnlint.catalog import RuleInfo, fingerprint, load_catalog, store_catalog
from nnlint.registry import all_rules, select_rules

BAD = "import torch\n\nfor x in data:\n    loss = loss_fn(model(x))\n    loss.backward()\n    opt.step()\n"

_WARM = textwrap.dedent(
    """
    import sys
    from nnlint.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    print("LIBCST" if "libcst" in sys.modules else "NO-LIBCST", code, file=sys.stderr)
    """
)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WARM, *args], capture_output=True, text=True, timeout=120)


def test_the_catalog_round_trips_every_rule(tmp_path):
    rules = all_rules()
    store_catalog(str(tmp_path), rules)
    infos = load_catalog(str(tmp_path))
    assert infos == [RuleInfo.of(r) for r in rules]
    assert (tmp_path / ".gitignore").exists()
    # Selection gives the same codes from descriptions as from the classes.
    for select in (None, ["NN3"], ["NN307"], ["NN"]):
        assert [r.code for r in select_rules(infos, select, ["NN1"])] == [r.code for r in select_rules(rules, select, ["NN1"])]


def test_a_new_catalog_replaces_the_old_ones(tmp_path):
    (tmp_path / "rules-0123.json").write_text("{}")
    store_catalog(str(tmp_path), all_rules())
    assert [p.name for p in tmp_path.glob("rules-*.json")] == [f"rules-{fingerprint()}.json"]


def test_a_corrupt_or_foreign_catalog_is_ignored(tmp_path):
    store_catalog(str(tmp_path), all_rules())
    (stored,) = tmp_path.glob("rules-*.json")
    stored.write_text("{not json")
    assert load_catalog(str(tmp_path)) is None
    stored.write_text(json.dumps({"fingerprint": "other", "rules": []}))
    assert load_catalog(str(tmp_path)) is None
    stored.write_text(json.dumps({"fingerprint": fingerprint(), "rules": [{"code": "NN101"}]}))
    assert load_catalog(str(tmp_path)) is None


def test_warm_run_skips_libcst_and_a_changed_file_is_still_linted(tmp_path):
    clean, buggy = tmp_path / "clean.py", tmp_path / "train.py"
    clean.write_text("import torch\n")
    buggy.write_text("import torch\n")
    cache = str(tmp_path / "cache")
    args = (str(tmp_path), "--cache-dir", cache)
    cold = _run(*args)
    assert "LIBCST 0" in cold.stderr, cold.stderr
    warm = _run(*args)
    assert "NO-LIBCST 0" in warm.stderr, warm.stderr
    # One file changes: the rules (and libcst) load on demand, and the new bug is found.
    buggy.write_text(BAD)
    changed = _run(*args)
    assert "LIBCST 1" in changed.stderr, changed.stderr
    assert "NN203" in changed.stdout
    again = _run(*args)
    assert "NO-LIBCST 1" in again.stderr
    assert again.stdout.splitlines()[:-1] == changed.stdout.splitlines()[:-1]  # the summary times differ


def test_config_errors_are_caught_on_the_warm_path_too(tmp_path):
    (tmp_path / "a.py").write_text("import torch\n")
    cache = str(tmp_path / "cache")
    assert "LIBCST 0" in _run(str(tmp_path), "--cache-dir", cache).stderr
    (tmp_path / "nnlint.toml").write_text("[rules.NN201]\nno_such_option = 1\n")
    out = _run(str(tmp_path), "--cache-dir", cache)
    assert " 2" in out.stderr.splitlines()[-1]
    assert "no_such_option" in out.stderr
    (tmp_path / "nnlint.toml").unlink()
    out = _run(str(tmp_path), "--cache-dir", cache, "--select", "NN999")
    assert "unknown rule code" in out.stderr


def test_local_rules_bypass_the_catalog(tmp_path):
    from tests.lint.test_fix_and_local_rules import LOCAL_RULE

    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "lint_rules.py").write_text(LOCAL_RULE)
    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\nlocal-rules = ["tools/lint_rules.py"]\n')
    (tmp_path / "train.py").write_text("print('hi')\n")
    cache = str(tmp_path / "cache")
    for _ in range(2):  # the second run is answered from the cache, with the local rule still known
        out = _run(str(tmp_path / "train.py"), "--cache-dir", cache)
        assert "LOC001" in out.stdout and out.stderr.strip().endswith("1"), out.stderr
    assert not list((tmp_path / "cache").glob("rules-*.json"))
