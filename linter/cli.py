"""The ``nnlint`` command line (see ../shared/contract.md for the flags, formats and exit codes)."""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from nnlint import __version__
from nnlint.cache import DEFAULT_DIR as DEFAULT_CACHE_DIR
from nnlint.config import Config, ConfigError, find_config, load_config, validate
from nnlint.discovery import MissingPathError, discover
from nnlint.finding import Finding
from nnlint.output import FORMATS, LintReport, renderer
from nnlint.registry import UnknownCodeError, all_rules, check_codes, rule_by_code, select_rules

if TYPE_CHECKING:
    from nnlint.rule import Rule

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _split_codes(values: Sequence[str]) -> list[str]:
    return [c.strip().upper() for v in values for c in v.split(",") if c.strip()]


def fail(message: str) -> None:
    click.echo(f"nnlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _load_rules(config: Config) -> list[type[Rule]]:
    rules = all_rules()
    if config.local_rules:
        from nnlint.local_rules import LocalRuleError, load_local_rules

        try:
            rules = sorted(rules + load_local_rules(config.local_rules, config.root, rules), key=lambda r: r.code)
        except LocalRuleError as exc:
            fail(f"{config.path}: {exc}")
    return rules


def _per_file_ignored(finding: Finding, config: Config) -> bool:
    if not config.per_file_ignores:
        return False
    rel = os.path.relpath(os.path.abspath(finding.path), config.root or os.getcwd())
    for pattern, codes in config.per_file_ignores.items():
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(finding.path, pattern) or fnmatch.fnmatch(
            os.path.basename(finding.path), pattern
        ):
            if any(finding.code.startswith(c) for c in codes):
                return True
    return False


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", "select", multiple=True, help="Comma-separated codes or prefixes to enable (NN1, NN301).")
@click.option("--ignore", "ignore", multiple=True, help="Comma-separated codes or prefixes to disable.")
@click.option("--extend-select", "extend_select", multiple=True, help="Codes to enable on top of the selection.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--output-file", type=click.Path(dir_okay=False), help="Write the report there instead of stdout.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even with findings.")
@click.option("--config", "config_path", type=click.Path(), help="A pyproject.toml or nnlint.toml to use.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the result cache.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    envvar="NNLINT_CACHE_DIR",
    help="Where the result cache lives (default: .nnlint_cache next to the configuration, else in the current directory).",
)
@click.option("--fix", is_flag=True, help="Apply safe autofixes.")
@click.option("--unsafe-fixes", is_flag=True, help="Apply unsafe autofixes too (implies --fix).")
@click.option("--statistics", is_flag=True, help="Count findings per code.")
@click.version_option(__version__, prog_name="nnlint")
def lint(
    paths: tuple[str, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    extend_select: tuple[str, ...],
    output_format: str,
    output_file: str | None,
    exit_zero: bool,
    config_path: str | None,
    jobs: int | None,
    no_cache: bool,
    cache_dir: str | None,
    fix: bool,
    unsafe_fixes: bool,
    statistics: bool,
) -> None:
    """Lint PyTorch training code for bugs that never raise (default path: .)."""
    started = time.perf_counter()
    paths = paths or (".",)
    try:
        if config_path is not None:
            if not os.path.isfile(config_path):
                fail(f"config file not found: {config_path}")
            config = load_config(config_path)
        else:
            found = find_config(paths[0])
            config = load_config(found) if found else Config()
        fixing = fix or unsafe_fixes
        if no_cache:
            cache_dir = None
        elif cache_dir is None:
            cache_dir = os.path.join(config.root or os.getcwd(), DEFAULT_CACHE_DIR)
        # Rule descriptions from the cache directory spare importing the rules (and libcst) when every
        # file's result is cached too; fixes and SARIF's rule docs need the rules themselves.
        catalog = None
        if cache_dir and not config.local_rules and not fixing and output_format != "sarif":
            from nnlint.catalog import load_catalog

            catalog = load_catalog(cache_dir)
        rules = catalog if catalog is not None else _load_rules(config)
        validate(config, rules)
        cli_select, cli_ignore, cli_extend = _split_codes(select), _split_codes(ignore), _split_codes(extend_select)
        check_codes(cli_select + cli_ignore + cli_extend, rules, "command line")
    except (ConfigError, UnknownCodeError) as exc:
        fail(str(exc))
    chosen = select_rules(
        rules,
        cli_select or config.select,
        config.ignore + cli_ignore,
        config.extend_select + cli_extend,
    )
    try:
        targets = discover(paths, config.exclude, config.root)
    except MissingPathError as exc:
        fail(f"{exc}: no such file or directory")

    from nnlint.runner import run

    files = [t.path for t in targets]

    def load() -> list[type[Rule]]:
        classes = {r.code: r for r in _load_rules(config)}
        return [classes[r.code] for r in chosen]

    from nnlint.progress import progress

    with progress(len(files), enabled=output_format == "text") as on_result:
        result = run(
            files, chosen, config.rule_options, jobs=jobs, cache_dir=cache_dir, on_result=on_result,
            load=load if catalog is not None else None,
        )
    if catalog is None and cache_dir and not config.local_rules:
        from nnlint.catalog import store_catalog

        store_catalog(cache_dir, rules)
    findings = [f for f in result.findings if not _per_file_ignored(f, config)]
    fixed = 0
    if fix or unsafe_fixes:
        findings, fixed, fix_errors = _apply_fixes(findings, chosen, config, unsafe_fixes, jobs)
        for message in fix_errors:
            click.echo(f"nnlint: {message}", err=True)

    report = LintReport(
        findings=findings,
        files=len(files),
        seconds=time.perf_counter() - started,
        rules=chosen,
        errors=result.errors,
        fixed=fixed,
        statistics=statistics,
        color=output_format == "text" and output_file is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ,
    )
    text = renderer(output_format)(report)
    if output_file:
        try:
            with open(output_file, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            fail(f"cannot write {output_file}: {exc.strerror or exc}")
    else:
        click.echo(text, nl=False)
    for error in result.errors:
        click.echo(f"nnlint: internal error: rule {error.rule} failed on {error.path}: {error.message}", err=True)
    if result.errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if findings and not exit_zero else EXIT_CLEAN)


def _apply_fixes(
    findings: list[Finding], rules: list[type[Rule]], config: Config, unsafe: bool, jobs: int | None
) -> tuple[list[Finding], int, list[str]]:
    from nnlint.fixer import fix_file
    from nnlint.runner import run

    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        by_path.setdefault(f.path, []).append(f)
    fixed, errors, changed = 0, [], []
    for path, file_findings in by_path.items():
        outcome = fix_file(path, file_findings, rules, config.rule_options, unsafe)
        if outcome.error:
            errors.append(f"{path}: fix not applied, file left untouched: {outcome.error}")
        elif outcome.applied:
            fixed += outcome.applied
            changed.append(path)
    if not changed:
        return findings, fixed, errors
    again = run(changed, rules, config.rule_options, jobs=jobs)
    remaining = [f for f in findings if f.path not in changed]
    remaining += [f for f in again.findings if not _per_file_ignored(f, config)]
    remaining.sort(key=lambda f: f.sort_key)
    return remaining, fixed, errors


@click.command("rule", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rule_command(code: str | None, show_all: bool, output_format: str) -> None:
    """Show a rule's documentation (nnlint rule NN101), or list every rule (nnlint rule --all)."""
    import json

    from nnlint.docs import rule_markdown, rule_record

    found = find_config(".")
    try:
        rules = _load_rules(load_config(found)) if found else all_rules()
    except ConfigError as exc:
        fail(str(exc))
    if show_all or code is None:
        if output_format == "json":
            click.echo(json.dumps([rule_record(r) for r in rules], indent=2))
        else:
            for r in rules:
                flags = ("fix" if r.fixable else "   ") + (" off" if not r.default_enabled else "")
                click.echo(f"{r.code}  {r.name:<34} {flags:<8} {r.summary()}")
        return
    rule = rule_by_code(code, rules)
    if rule is None:
        fail(f"unknown rule code {code!r}")
    if output_format == "json":
        click.echo(json.dumps({**rule_record(rule), "explanation": rule_markdown(rule)}, indent=2))
    else:
        click.echo(rule_markdown(rule))


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "rule":
        rule_command.main(args[1:], prog_name="nnlint rule")
    else:
        lint.main(args, prog_name="nnlint")


if __name__ == "__main__":
    main()
