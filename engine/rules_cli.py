"""``tact rules``: the compliance officers' tools — check, test, explain, schema.

Mounted by ``tact/cli.py`` as the ``rules`` group.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    name="rules",
    help="Compliance rules: validate, test and explain the per-country rule files.",
    no_args_is_help=True,
    add_completion=False,
)

_console = Console()
_err = Console(stderr=True)

RulesPath = Annotated[
    Path | None,
    typer.Argument(
        help="Rules directory (default: the repository's rules/), or one rule file in it.",
        show_default=False,
    ),
]


def _rules_dir(path: Path | None) -> Path:
    from engine.compliance import DEFAULT_RULES_DIR

    if path is None:
        return DEFAULT_RULES_DIR
    return path.parent if path.is_file() else path


def _print_issues(issues: list) -> None:  # list[RuleIssue]
    """Each issue once: a table on a terminal, else "file:line:col: message — fix: …"
    lines (what editors and CI parse)."""
    if not _err.is_terminal:
        for issue in issues:
            _err.print(str(issue), markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title=f"{len(issues)} problem(s)", show_lines=True)
    table.add_column("where", style="cyan", no_wrap=True)
    table.add_column("rule")
    table.add_column("problem", style="red")
    table.add_column("fix", style="green")
    for issue in issues:
        table.add_row(
            f"{issue.file}:{issue.line}:{issue.column}",
            issue.rule_id or "—",
            issue.message,
            issue.fix,
        )
    _err.print(table)


@app.command()
def check(path: RulesPath = None) -> None:
    """Validate the rule files (and the schema files); exit 1 on any problem."""
    from engine.compliance import ComplianceEngine, RulesError
    from engine.compliance.rule_tests import load_rule_tests
    from engine.compliance.schema import stale_schemas

    rules_dir = _rules_dir(path)
    issues = []
    engine = None
    try:
        engine = ComplianceEngine.load(rules_dir)
    except RulesError as exc:
        issues.extend(exc.issues)
    tests_dir = rules_dir / "tests"
    if tests_dir.is_dir():
        try:
            load_rule_tests(tests_dir)
        except RulesError as exc:
            issues.extend(exc.issues)
    if issues:
        _print_issues(issues)
        raise typer.Exit(1)
    assert engine is not None
    for stale in stale_schemas(rules_dir):
        _err.print(
            f"[yellow]warning:[/] {stale} is out of date; run `tact rules schema` to regenerate"
        )
    rules = sum(len(c.rules) for c in engine.compiled.countries.values())
    _console.print(
        f"[green]OK[/] {len(engine.countries)} jurisdictions "
        f"({', '.join(sorted(engine.countries))}), {rules} rules in effect, "
        f"ruleset version {engine.version}"
    )


@app.command("test")
def test_(path: RulesPath = None) -> None:
    """Run the officers' test cases (rules/tests/*.yaml); exit 1 if any fails."""
    from engine.compliance import ComplianceEngine, RulesError
    from engine.compliance.rule_tests import run_rule_tests

    rules_dir = _rules_dir(path)
    try:
        engine = ComplianceEngine.load(rules_dir)
        outcomes = run_rule_tests(engine, rules_dir / "tests")
    except RulesError as exc:
        _print_issues(exc.issues)
        raise typer.Exit(1) from None
    table = Table(title=f"rule tests — ruleset {engine.version}")
    table.add_column("", no_wrap=True)
    table.add_column("case", no_wrap=True, style="cyan")
    table.add_column("test")
    table.add_column("blocked by / problem")
    for o in outcomes:
        mark = "[green]PASS[/]" if o.passed else "[bold red]FAIL[/]"
        detail = ", ".join(o.hit_ids) if o.passed else "[red]" + "; ".join(o.problems) + "[/]"
        table.add_row(mark, f"{o.file.name}:{o.line}", o.name, detail)
    _console.print(table)
    failed = [o for o in outcomes if not o.passed]
    if failed:
        _console.print(f"[bold red]{len(failed)} of {len(outcomes)} failed[/]")
        raise typer.Exit(1)
    _console.print(f"[green]all {len(outcomes)} passed[/]")


@app.command()
def explain(
    case: Annotated[Path, typer.Option("--case", help="Case JSON file.", exists=True)],
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help="Decision time, ISO 8601; without an offset it is the debtor's local time.",
        ),
    ],
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Rules directory (default: rules/).")
    ] = None,
) -> None:
    """Channels × send slots for that local day: allowed (and when), or blocked by which rule."""
    from engine.compliance import ComplianceEngine, ComplianceError
    from engine.compliance.case_json import CaseJsonError, parse_case
    from engine.compliance.explain import SLOT_COLUMNS, explain_day, state_for

    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        _err.print(f"[red]--at {at!r} is not ISO 8601[/]; write e.g. 2024-03-11T09:30")
        raise typer.Exit(2) from None
    try:
        snapshot, events = parse_case(case.read_text(encoding="utf-8"))
        engine = ComplianceEngine.load(rules)
        state = state_for(engine, snapshot, events, when)
        day = explain_day(engine, state)
    except (CaseJsonError, ComplianceError) as exc:
        _err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from None
    v = day.verdict
    _console.print(
        f"case [bold]{snapshot.case_id}[/] · {snapshot.country} · {day.zone_name} · "
        f"local date {v.local_date} ({v.local_date:%A}) · ruleset {v.ruleset_version}"
    )
    flags = [name for name, on in (("HOLD", v.hold), ("HUMAN AGENT ONLY", v.human_only)) if on]
    if flags:
        _console.print("[bold red]" + " · ".join(flags) + "[/]")
    table = Table(title="what may be sent today (local times)", show_lines=True)
    table.add_column("channel", style="bold")
    for slot in SLOT_COLUMNS:
        table.add_column(slot.name.lower())
    for channel in sorted({c for c, _ in day.cells}, key=int):
        row = [channel.name]
        for slot in SLOT_COLUMNS:
            cell = day.cells[(channel, slot)]
            if not cell.applicable:
                row.append("[dim]—[/]")
                continue
            if not cell.allowed:  # everything blocked: the union of the reasons
                union = list(dict.fromkeys(i for _, ids in cell.blocked_by for i in ids))
                row.append(f"[red]✗ {', '.join(union)}[/]")
                continue
            parts = [f"[green]✓ {cell.window_local}[/]"]
            for action, ids in cell.blocked_by:
                parts.append(f"[yellow]✗ {action}: {', '.join(ids)}[/]")
            row.append("\n".join(parts))
        table.add_row(*row)
    _console.print(table)
    rules_table = Table(title="rules that shaped this day")
    rules_table.add_column("rule", style="cyan", no_wrap=True)
    rules_table.add_column("message")
    rules_table.add_column("citation", style="dim")
    for hit in day.hits:
        rules_table.add_row(hit.rule_id, hit.message, hit.citation)
    _console.print(rules_table)


@app.command()
def schema(path: RulesPath = None) -> None:
    """Regenerate rules/schema.json and rules/tests/schema.json from the format's models."""
    from engine.compliance.schema import write_schemas

    for written in write_schemas(_rules_dir(path)):
        _console.print(f"wrote {written}")


@app.command()
def reload(
    server: Annotated[
        str, typer.Option("--server", help="tact gRPC address HOST:PORT.")
    ] = "127.0.0.1:50051",
) -> None:
    """Ask a running service to validate, test and swap in the rule files on its disk.

    A broken edit is rejected with its issues and the last good rules keep serving; the
    exit code is 1 then.
    """
    from engine.cli import call_service, print_json
    from tact.v1 import admin_service_pb2

    result = call_service(server, "ReloadRules", admin_service_pb2.ReloadRulesRequest(), admin=True)
    print_json(result)
    if not result.ok:
        raise typer.Exit(1)
