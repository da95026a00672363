"""Rule documentation generated from the registry: ``nnlint rule``, SARIF help, docs/rules.md, README table."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from nnlint.rule import Rule

FAMILIES = {
    "NN1": "Tensor layout and shapes",
    "NN2": "Optimisation and training loop",
    "NN3": "Model architecture",
    "NN4": "Data and evaluation",
    "NN5": "Performance",
    "NN6": "Reproducibility and safety",
}


def rule_markdown(rule: type[Rule]) -> str:
    """The rule's page: title, summary, then its docstring sections."""
    doc = inspect.cleandoc(rule.__doc__ or "")
    fix = "always" if rule.fixable else "no"
    status = "" if rule.default_enabled else "\n\nThis rule is off by default; enable it with `--select " + rule.code + "`."
    return f"# {rule.name} ({rule.code})\n\n{rule.message}\n\nFix: {fix}. Severity: {rule.severity}.{status}\n\n{doc}\n"


def rule_record(rule: type[Rule]) -> dict:
    return {
        "code": rule.code,
        "name": rule.name,
        "summary": rule.summary(),
        "fixable": rule.fixable,
        "default": rule.default_enabled,
        "severity": rule.severity,
    }


def rules_table(rules: Sequence[type[Rule]]) -> str:
    lines = ["| code | name | summary | fix | default |", "|---|---|---|---|---|"]
    for rule in rules:
        fix = "yes" if rule.fixable else ""
        default = "on" if rule.default_enabled else "off"
        summary = rule.summary().replace("|", "\\|")
        lines.append(f"| {rule.code} | `{rule.name}` | {summary} | {fix} | {default} |")
    return "\n".join(lines) + "\n"


def rules_document(rules: Sequence[type[Rule]]) -> str:
    """docs/rules.md: the table, then every rule's page, grouped by family."""
    parts = ["# nnlint rules\n", "Generated from the rule registry by `python -m nnlint.docs`; do not edit by hand.\n"]
    parts.append(rules_table(rules))
    for prefix, title in FAMILIES.items():
        family = [r for r in rules if r.code.startswith(prefix)]
        if not family:
            continue
        parts.append(f"\n## {prefix}xx: {title}\n")
        for rule in family:
            page = rule_markdown(rule).replace("\n## ", "\n#### ")
            parts.append("\n###" + page[1:])
    return "\n".join(parts)


README_BEGIN = "<!-- rules-table:begin -->"
README_END = "<!-- rules-table:end -->"


def update_readme(text: str, rules: Sequence[type[Rule]]) -> str:
    start = text.index(README_BEGIN) + len(README_BEGIN)
    end = text.index(README_END)
    return text[:start] + "\n" + rules_table(rules) + text[end:]


def main() -> None:  # pragma: no cover - a maintenance entry point
    import pathlib

    from nnlint.registry import all_rules

    root = pathlib.Path(__file__).resolve().parent.parent
    rules = all_rules()
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "rules.md").write_text(rules_document(rules))
    readme = root / "README.md"
    readme.write_text(update_readme(readme.read_text(), rules))


if __name__ == "__main__":  # pragma: no cover
    main()
