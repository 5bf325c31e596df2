"""``tact simulate``: run a policy over simulated debtors and print the KPIs.

Merged at the top level of the ``tact`` command by tact/cli.py. Heavy imports (numpy
engine, compliance rules, torch for RL policies) happen inside the command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from simulator.kpis import KPIReport
    from simulator.rollout import SimulationResult

app = typer.Typer(add_completion=False)

_AUDIT_HELP = (
    "executed contacts to re-check through durable_rules: 'all', 'none' or a sample size "
    "(about 3 ms each)"
)


@app.command()
def simulate(
    scenario: str = typer.Option("nordic-telecom", help="scenario name or path to a YAML file"),
    policy: str = typer.Option(
        "ladder",
        help="ladder, segmented, random, daily-calls, default, rl:<name>, simple:<spec>, "
        "best-simple[:<scenario>], segmented-probe",
    ),
    debtors: int = typer.Option(5000, min=1, help="number of simulated debtors"),
    seed: int = typer.Option(0, help="random seed (runs are reproducible per seed)"),
    randomise: bool = typer.Option(False, help="draw each parameter from its range per debtor"),
    audit: str = typer.Option("10000", help=_AUDIT_HELP),
    ci: str = typer.Option("normal", help="95 % CI method: normal or bootstrap"),
    save_log: Path | None = typer.Option(None, help="write the step log (.npz) for a later audit"),
    validate: bool = typer.Option(
        False,
        "--validate",
        help="check the scenario's stylised facts instead (exit status 1 if one fails)",
    ),
    json_out: Path | None = typer.Option(
        None, "--json", help="--validate: write the checks here; --against: the KPIs"
    ),
    against: str | None = typer.Option(
        None,
        "--against",
        metavar="HOST:PORT",
        help="drive a running tact through its gRPC API instead of running POLICY in-process "
        "(the service's policy or experiment decides; outcomes go back by RecordEvents)",
    ),
    arrivals_per_day: int | None = typer.Option(
        None,
        "--arrivals-per-day",
        min=1,
        help="--against: debtors arrive this many a day, beside those already in collection "
        "(default: batch after batch, the fastest way through DEBTORS)",
    ),
) -> None:
    """Simulate DEBTORS debtors of SCENARIO under POLICY and print KPIs with 95 % CIs.

    With --validate, run the simulator validation suite on SCENARIO instead: every stylised
    fact of its `validation:` and `targets:` blocks, measured on DEBTORS debtors per
    experiment, printed with its target, tolerance and source.
    """
    if arrivals_per_day is not None and against is None:
        raise typer.BadParameter(
            "paces the debtors sent to a service; add --against HOST:PORT",
            param_hint="--arrivals-per-day",
        )
    if validate:
        _validate(scenario, debtors, seed, json_out)
        return
    if against is not None:
        _against(scenario, against, debtors, seed, ci, json_out, arrivals_per_day)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from simulator.audit import audit_log
    from simulator.errors import SimulatorError
    from simulator.kpis import compute_kpis
    from simulator.masks import compliance_masks
    from simulator.policy_registry import resolve_policy
    from simulator.rollout import simulate as run
    from simulator.scenario_loader import load_scenario

    console = Console()
    if ci not in ("normal", "bootstrap"):
        raise typer.BadParameter("use 'normal' or 'bootstrap'", param_hint="--ci")
    sample = _audit_size(audit)
    try:
        sc = load_scenario(scenario)
        chosen = resolve_policy(policy)
        masks = compliance_masks()
    except (SimulatorError, Exception) as exc:  # every load error carries its fix
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(f"{sc.name} × {policy}", total=debtors)
        result = run(
            sc,
            chosen,
            debtors,
            masks,
            seed=seed,
            randomise=randomise,
            log_steps=sample != 0 or save_log is not None,
            progress=lambda k: bar.advance(task, k),
        )
    report = compute_kpis(
        result.outcomes,
        churn_applies=sc.churn.enabled,
        method="bootstrap" if ci == "bootstrap" else "normal",
    )

    audit_line = "not audited (--audit none)"
    failed = False
    if sample != 0:
        contacts = sum(log.n_contacts for log in result.step_logs)
        per_log = None if sample is None else max(1, sample // max(1, len(result.step_logs)))
        with console.status("auditing through durable_rules…"):
            audits = [audit_log(log, masks, max_contacts=per_log) for log in result.step_logs]
        checked = sum(a.contacts_checked for a in audits)
        violations = sum(a.n_violations for a in audits)
        failed = not all(a.passed for a in audits)
        audit_line = f"{violations} in {checked:,} re-checked contacts (of {contacts:,})"
    if save_log is not None:
        for k, log in enumerate(result.step_logs):
            path = save_log if len(result.step_logs) == 1 else _numbered(save_log, k)
            log.save(path)
        console.print(f"step log written to {save_log}")

    console.print(_kpi_table(report, sc.currency, result, audit_line))
    if failed:
        console.print("[bold red]compliance audit FAILED[/]")
        raise typer.Exit(1)


def _validate(scenario: str, debtors: int, seed: int, json_out: Path | None) -> None:
    import json

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from simulator.masks import compliance_masks
    from simulator.scenario_loader import load_scenario
    from simulator.validation import validate

    console = Console()
    try:
        sc = load_scenario(scenario)
        masks = compliance_masks()
    except Exception as exc:  # every load error carries its fix
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    with console.status(f"validating {sc.name} on {debtors:,} debtors per experiment…"):
        checks = validate(sc, masks, debtors=debtors, seed=seed)
    table = Table(title=f"{sc.name}: stylised facts · {debtors:,} debtors each · seed {seed}")
    for column in ("check", "target", "measured", "95 % CI", "n", "ok", "source (grade)"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(
            c.label + (f"\n{c.detail}" if c.detail else ""),
            c.target,
            f"{c.measured:.1f}",
            f"[{c.ci_low:.1f}, {c.ci_high:.1f}]",
            f"{c.n:,}",
            "yes" if c.passed else "[bold red]NO[/]",
            f"{c.source} ({c.grade})",
        )
    console.print(table)
    if json_out is not None:
        payload = {
            "scenario": sc.name,
            "debtors": debtors,
            "seed": seed,
            "checks": [c.to_json() for c in checks],
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    failed = [c.name for c in checks if not c.passed]
    if failed:
        console.print(
            f"[bold red]{len(failed)} of {len(checks)} checks failed:[/] {', '.join(failed)}"
        )
        raise typer.Exit(1)
    console.print(f"all {len(checks)} checks passed")


def _against(
    scenario: str,
    target: str,
    debtors: int,
    seed: int,
    ci: str,
    json_out: Path | None,
    arrivals_per_day: int | None,
) -> None:
    import json

    from rich.console import Console
    from rich.markup import escape

    from simulator.against import ServiceCallError, simulate_against
    from simulator.kpis import compute_kpis
    from simulator.masks import compliance_masks
    from simulator.scenario_loader import load_scenario

    console = Console()
    try:
        sc = load_scenario(scenario)
        with console.status(f"{debtors:,} simulated debtors against {target}…"):
            result = simulate_against(
                target,
                sc,
                debtors,
                compliance_masks(),
                seed=seed,
                arrivals_per_day=arrivals_per_day,
                token=os.environ.get("TACT_TOKEN"),
            )
    except ServiceCallError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    report = compute_kpis(
        result.outcomes,
        churn_applies=sc.churn.enabled,
        method="bootstrap" if ci == "bootstrap" else "normal",
    )
    summary = {
        "scenario": sc.name,
        "target": target,
        "run_id": result.run_id,
        "debtors": debtors,
        "seed": seed,
        "arrivals_per_day": arrivals_per_day,
        "days": result.days,
        "decisions": result.decisions,
        "events_sent": result.events_sent,
        "blocked_in_simulator": result.blocked_in_simulator,
        "arms": result.arms,
        "seconds": round(result.seconds, 1),
        "kpis": {
            k.name: {"mean": k.mean, "ci_low": k.ci_low, "ci_high": k.ci_high} for k in report
        },
    }
    if json_out is not None:
        json_out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for k in report:
        console.print(f"{k.label:<34} {k.mean:>12,.2f}  [{k.ci_low:,.2f}, {k.ci_high:,.2f}]")
    console.print(
        f"run {result.run_id}: {result.decisions:,} decisions, {result.events_sent:,} events "
        f"sent, arms {result.arms}, {result.blocked_in_simulator} decisions the simulator's "
        f"mask did not allow, {result.seconds:.0f} s"
    )


def _audit_size(text: str) -> int | None:
    """None = all, 0 = none, else the sample size."""
    if text == "all":
        return None
    if text == "none":
        return 0
    try:
        size = int(text)
    except ValueError:
        raise typer.BadParameter("use 'all', 'none' or a number", param_hint="--audit") from None
    if size < 0:
        raise typer.BadParameter("the sample size cannot be negative", param_hint="--audit")
    return size


def _numbered(path: Path, k: int) -> Path:
    return path.with_name(f"{path.stem}.{k}{path.suffix or '.npz'}")


def _kpi_table(
    report: KPIReport, currency: str, result: SimulationResult, audit_line: str
) -> Table:
    from rich.table import Table

    table = Table(
        title=f"{result.scenario} · {result.policy} · {len(result.outcomes):,} debtors · "
        f"seed {result.seed}"
    )
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column("95 % CI", justify="right")
    for k in report:
        unit = currency if k.unit == "currency" else k.unit
        table.add_row(
            k.label,
            f"{k.mean:,.2f} {unit}".strip(),
            f"[{k.ci_low:,.2f}, {k.ci_high:,.2f}]",
        )
    table.add_row("compliance violations", audit_line, "")
    if not result.shielded:
        table.add_row("[red]masks[/]", "[red]not from the compliance rules[/]", "")
    return table
