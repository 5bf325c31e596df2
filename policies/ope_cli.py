"""Researcher commands on live logs: ``tact ope``, ``tact ledger export``,
``tact experiments report``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(add_completion=False)
ledger_app = typer.Typer(add_completion=False, help="Export the ledger for researchers.")
experiments_app = typer.Typer(add_completion=False, help="Reports on live experiments.")
app.add_typer(ledger_app, name="ledger")
app.add_typer(experiments_app, name="experiments")

_LEDGER_HELP = "database URL (sqlite:///var/tact.db, postgresql+psycopg://…) or a Parquet export"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def ope(
    ledger: str = typer.Option(..., help=_LEDGER_HELP),
    policy: list[str] = typer.Option(..., help="candidate policy spec; repeat for several"),
    experiment: str | None = typer.Option(None, help="only this experiment's decisions"),
    json_out: Path | None = typer.Option(None, "--json", help="write the estimates here"),
    report: Path | None = typer.Option(
        None, "--report", "--html", help="write an HTML report here"
    ),
    boot: int = typer.Option(200, min=20, help="bootstrap resamples (of cases)"),
    seed: int = typer.Option(0),
    case_only: bool = typer.Option(
        False,
        "--case-only",
        help="only the case-level MIS and SNMIS (needs case exploration); on a million "
        "logged decisions the per-decision bootstraps take most of the time",
    ),
) -> None:
    """Estimate candidate policies from logged decisions: IPS, SNIPS, DR per decision,
    per-decision weighted IS per case, and under case exploration the case-level MIS and
    SNMIS (whole cases weighed by the logged mixture of runners), each with a 95 %
    bootstrap CI and the ESS."""
    from policies.evaluate import resolve_policy
    from policies.ope.logged import load_logged
    from policies.ope.run import case_explored, evaluate_candidate, html_report

    try:
        logged = load_logged(ledger, experiment_id=experiment)
        cases = case_explored(logged)
        if case_only and cases is None:
            raise ValueError(
                "--case-only needs decisions logged under case exploration (an experiment "
                "file with case_exploration:); these have none"
            )
        results = [
            evaluate_candidate(
                spec,
                resolve_policy(spec),
                logged,
                n_boot=boot,
                seed=seed,
                cases=cases,
                per_decision=not case_only,
            )
            for spec in policy
        ]
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    for result in results:
        typer.echo(
            f"{result.candidate}: {result.decisions:,} decisions in {result.cases:,} cases; "
            f"logged {result.logged_value_per_case:.2f} per case; agrees with "
            f"{result.match_share:.1%}"
        )
        for e in result.estimates:
            typer.echo(
                f"  {e.estimator:<6} {e.value:10.4f} [{e.ci_low:.4f}, {e.ci_high:.4f}] "
                f"{e.unit}, ESS {e.ess:.1f}"
            )
        if result.case_weights is not None:
            c = result.case_weights
            typer.echo(
                f"  case weights: mean {c.mean:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}] (1 when "
                f"supported), {c.matched_cases:,} cases followed throughout"
            )
        for warning in result.warnings:
            typer.echo(f"  WARNING: {warning}")
    if json_out is not None:
        json_out.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")
    if report is not None:
        report.write_text(html_report(results), encoding="utf-8")


@ledger_app.command("export")
def export(
    ledger: str = typer.Option(..., help="database URL of the ledger"),
    out: Path = typer.Option(..., help="Parquet file to write"),
    experiment: str | None = typer.Option(None, help="only this experiment's decisions"),
) -> None:
    """Decisions with their inputs (observation, allowed treatments), propensities, policy
    and ruleset versions, experiment tags and joined outcomes, as Parquet."""
    from policies.ope.logged import read_ledger, write_parquet

    if "://" not in ledger:
        raise _fail(f"{ledger!r} is not a database URL (e.g. sqlite:///var/tact.db)")
    logged = read_ledger(ledger, experiment_id=experiment)
    write_parquet(logged, out)
    typer.echo(f"{len(logged):,} decisions written to {out}")


@experiments_app.command("report")
def experiments_report(
    ledger: str = typer.Option(
        ..., help="database URL of the ledger (sqlite:///var/tact.db, postgresql+psycopg://…)"
    ),
    experiment: str = typer.Option(..., help="experiment id"),
    json_out: Path | None = typer.Option(None, "--json", help="write the report as JSON here"),
    html_out: Path | None = typer.Option(
        None, "--report", "--html", help="write an HTML report here (as tact ope and evaluate)"
    ),
    boot: int = typer.Option(200, min=20, help="bootstrap resamples of the OPE (of cases)"),
) -> None:
    """Per arm: decisions, contacts, payments, complaints, opt-outs, violations, guardrail
    state, SRM, and the OPE of each challenger from the logged decisions."""
    from policies.ope.experiment_report import build_report, report_html

    try:
        report = build_report(ledger, experiment, n_boot=boot)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    text = json.dumps(report, indent=2, default=str)
    typer.echo(text)
    if json_out is not None:
        json_out.write_text(text + "\n")
    if html_out is not None:
        html_out.write_text(report_html(report), encoding="utf-8")
