"""``--format sarif``: SARIF 2.1.0 as GitHub code scanning accepts it."""

from __future__ import annotations

import json
import os

from nnlint import __version__
from nnlint.docs import rule_markdown
from nnlint.output import LintReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/nnlint/nnlint"


def _uri(path: str) -> str:
    path = path.replace(os.sep, "/")
    return path[2:] if path.startswith("./") else path


def _rule(rule) -> dict:
    doc = rule_markdown(rule)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.message},
        "fullDescription": {"text": rule.message},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": "error" if rule.severity == "error" else "warning"},
        "properties": {"tags": ["pytorch", "correctness"]},
    }


def render(report: LintReport) -> str:
    rules = list(report.rules)
    known = {r.code for r in rules}
    from nnlint.registry import all_rules

    for rule in all_rules():
        if rule.code not in known and any(f.code == rule.code for f in report.findings):
            rules.append(rule)
            known.add(rule.code)
    descriptors = [_rule(r) for r in sorted(rules, key=lambda r: r.code)]
    if any(f.code == "NN000" for f in report.findings):
        descriptors.insert(
            0,
            {
                "id": "NN000",
                "name": "syntax-error",
                "shortDescription": {"text": "The file cannot be read or parsed."},
                "help": {"text": "nnlint could not read or parse this file; fix the syntax or encoding."},
                "defaultConfiguration": {"level": "error"},
            },
        )
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    results = []
    for f in report.findings:
        region = {"startLine": f.line, "startColumn": f.column, "endLine": f.end_line, "endColumn": f.end_column}
        result = {
            "ruleId": f.code,
            "level": "error" if f.severity == "error" else "warning",
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.path)}, "region": region}}],
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.fix is not None:
            result["fixes"] = [
                {
                    "description": {"text": f.fix.description or f"{f.fix.applicability} fix for {f.code}"},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": _uri(f.path)},
                            "replacements": [
                                {
                                    "deletedRegion": {
                                        "startLine": e.line,
                                        "startColumn": e.column,
                                        "endLine": e.end_line,
                                        "endColumn": e.end_column,
                                    },
                                    "insertedContent": {"text": e.content},
                                }
                                for e in f.fix.edits
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    sarif = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nnlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFO_URI,
                        "rules": descriptors,
                    }
                },
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return json.dumps(sarif, indent=2) + "\n"
