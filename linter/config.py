"""``[tool.nnlint]`` in the nearest pyproject.toml, or an nnlint.toml, validated strictly."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from nnlint.registry import check_codes

if TYPE_CHECKING:
    from nnlint.rule import Rule

KNOWN_KEYS = {"select", "ignore", "extend-select", "exclude", "per-file-ignores", "rules", "local-rules"}


class ConfigError(ValueError):
    """A configuration problem; its message names the file and the key."""


@dataclass
class Config:
    path: str | None = None  # the file it came from
    root: str = ""  # the directory paths in the config are relative to
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    local_rules: list[str] = field(default_factory=list)


def find_config(start: str) -> str | None:
    """The nearest nnlint.toml, or pyproject.toml with a [tool.nnlint] table, from ``start`` upward."""
    directory = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    while True:
        candidate = os.path.join(directory, "nnlint.toml")
        if os.path.isfile(candidate):
            return candidate
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as handle:
                    raw = handle.read()
                if "nnlint" in tomllib.loads(raw.decode("utf-8")).get("tool", {}):
                    return candidate
            except (OSError, UnicodeDecodeError):
                pass
            except tomllib.TOMLDecodeError:
                if b"tool.nnlint" in raw:  # ours, but broken: load_config reports it
                    return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _codes(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of rule codes")
    return [v.strip().upper() for v in value]


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return list(value)


def load_config(path: str) -> Config:
    """Read and validate ``path``; raises ConfigError naming the file and the key."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    if os.path.basename(path) == "pyproject.toml":
        table = data.get("tool", {}).get("nnlint", {})
        prefix = "tool.nnlint"
    else:
        table = data.get("tool", {}).get("nnlint", data)
        prefix = "tool.nnlint" if "tool" in data else ""
    return parse_table(table, path, prefix)


def parse_table(table: dict[str, Any], path: str, prefix: str = "tool.nnlint") -> Config:
    """Read the table's keys and types; codes and options are checked by ``validate``."""

    def key(name: str) -> str:
        return f"{path}: {prefix + '.' if prefix else ''}{name}"

    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{prefix}] must be a table")
    config = Config(path=path, root=os.path.dirname(os.path.abspath(path)))
    for name in table:
        if name not in KNOWN_KEYS:
            raise ConfigError(f"{key(name)}: unknown key (known: {', '.join(sorted(KNOWN_KEYS))})")
    if "local-rules" in table:
        config.local_rules = _strings(table["local-rules"], key("local-rules"))
    if "select" in table:
        config.select = _codes(table["select"], key("select"))
    config.ignore = _codes(table.get("ignore", []), key("ignore"))
    config.extend_select = _codes(table.get("extend-select", []), key("extend-select"))
    config.exclude = _strings(table.get("exclude", []), key("exclude"))
    pfi = table.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise ConfigError(f"{key('per-file-ignores')} must be a table of pattern = [codes]")
    config.per_file_ignores = {pattern: _codes(codes, key(f"per-file-ignores.{pattern}")) for pattern, codes in pfi.items()}
    rule_tables = table.get("rules", {})
    if not isinstance(rule_tables, dict):
        raise ConfigError(f"{key('rules')} must be a table of [rules.CODE] tables")
    for code, options in rule_tables.items():
        if not isinstance(options, dict):
            raise ConfigError(f"{key('rules.' + code)} must be a table of options")
        config.rule_options[code.upper()] = dict(options)
    return config


def validate(config: Config, rules: list[type[Rule]]) -> None:
    """Check every code and rule option in ``config`` against ``rules``; raises ConfigError."""
    is_pyproject = bool(config.path) and os.path.basename(str(config.path)) == "pyproject.toml"
    where = f"{config.path}: " + ("tool.nnlint." if is_pyproject else "")
    codes = (config.select or []) + config.ignore + config.extend_select
    for pattern_codes in config.per_file_ignores.values():
        codes += pattern_codes
    try:
        check_codes(codes, rules, str(config.path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    by_code = {r.code: r for r in rules}
    for code, options in list(config.rule_options.items()):
        rule = by_code.get(code)
        if rule is None:
            raise ConfigError(f"{where}rules.{code}: unknown rule code")
        config.rule_options[code] = validate_options(rule, options, f"{where}rules.{code}")


def validate_options(rule: type[Rule], options: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name not in rule.options:
            known = ", ".join(sorted(rule.options)) or "none"
            raise ConfigError(f"{where}.{name}: unknown option for {rule.code} (known: {known})")
        default = rule.options[name]
        if default is not None and not _same_kind(default, value):
            raise ConfigError(f"{where}.{name}: expected {type(default).__name__}, got {type(value).__name__}")
        out[name] = value
    return out


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, list)
    return isinstance(value, type(default))
