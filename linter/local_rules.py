"""Project-local rules: ``[tool.nnlint] local-rules = ["tools/lint_rules.py"]``.

Each listed file (or ``package.module`` importable from the config's directory) is loaded in its own
module namespace; every ``Rule`` subclass defined in it with a code becomes a rule like the built-in ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Sequence

from nnlint.rule import Rule

_CODE = re.compile(r"^[A-Z]{1,4}[0-9]{3}$")


class LocalRuleError(ValueError):
    pass


def _load_module(spec_text: str, root: str):
    path = spec_text if os.path.isabs(spec_text) else os.path.join(root, spec_text)
    if spec_text.endswith(".py") or os.sep in spec_text or "/" in spec_text:
        if not os.path.isfile(path):
            raise LocalRuleError(f"local-rules: {spec_text}: no such file")
        name = f"nnlint_local_rules_{abs(hash(os.path.abspath(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise LocalRuleError(f"local-rules: {spec_text}: cannot be loaded")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        spec.loader.exec_module(module)
        return module
    sys.path.insert(0, root)
    try:
        return importlib.import_module(spec_text)
    finally:
        sys.path.remove(root)


def load_local_rules(specs: Sequence[str], root: str, builtin: Sequence[type[Rule]]) -> list[type[Rule]]:
    """Load the rule classes of every spec; raises LocalRuleError with a one-line reason."""
    taken = {r.code: r for r in builtin}
    loaded: list[type[Rule]] = []
    for spec_text in specs:
        try:
            module = _load_module(spec_text, root)
        except LocalRuleError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code: report, never a traceback
            raise LocalRuleError(f"local-rules: {spec_text}: {type(exc).__name__}: {exc}") from exc
        found = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__
        ]
        if not found:
            raise LocalRuleError(f"local-rules: {spec_text}: defines no Rule subclass")
        for rule in found:
            if not rule.code or not _CODE.match(rule.code):
                raise LocalRuleError(f"local-rules: {spec_text}: {rule.__name__}.code {rule.code!r} is not like 'ABC123'")
            if rule.code in taken:
                raise LocalRuleError(f"local-rules: {spec_text}: {rule.__name__} reuses code {rule.code}")
            if not rule.name or not rule.message:
                raise LocalRuleError(f"local-rules: {spec_text}: {rule.__name__} needs a name and a message")
            taken[rule.code] = rule
            loaded.append(rule)
    return loaded
