"""``tact train``, ``tact evaluate`` and ``tact search-simple`` (merged into the root CLI at
the top level).

torch, stable-baselines3 and the simulator are imported inside the commands, so that
``tact --help`` and ``tact serve`` do not pay for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.progress import Progress

    from policies.base import Policy
    from policies.evaluate import Evaluation
    from policies.train import EvalPoint
    from simulator.scenario import Scenario

app = typer.Typer(add_completion=False, no_args_is_help=True)
ScenarioOption = Annotated[str, typer.Option(help="Scenario name or YAML path.")]
BatchSizeOption = Annotated[int, typer.Option(help="Debtors simulated side by side.")]
console = Console()

_HEADLINE = (
    ("net_value_per_case", "net value/case", "{:.2f}"),
    ("resolution_rate", "resolution %", "{:.1f}"),
    ("recovery_rate", "recovery %", "{:.1f}"),
    ("cost_per_case", "cost/case", "{:.2f}"),
    ("complaints_per_1000", "complaints/1k", "{:.0f}"),
    ("churn_90d", "churn %", "{:.1f}"),
    ("nps", "NPS", "{:.1f}"),
    ("contacts_per_case", "contacts/case", "{:.2f}"),
    ("violations_per_1000_contacts", "violations/1k", "{:.2f}"),
)


@app.command()
def train(
    scenario: ScenarioOption = "nordic-telecom",
    algo: Annotated[str, typer.Option(help="Training algorithm.")] = "maskable-ppo",
    timesteps: Annotated[
        int | None, typer.Option(help="Debtor-days to train for (default: the recipe's, 5M).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of everything (< 1,000,000).")] = 0,
    name: Annotated[
        str | None, typer.Option(help="Artifact name under policies/models/ (default: run name).")
    ] = None,
    n_envs: Annotated[
        int | None, typer.Option(help="Debtors simulated side by side (default: 512).")
    ] = None,
    n_steps: Annotated[
        int | None, typer.Option(help="Days per slot per rollout (default: 64).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="PPO minibatch; must divide n_envs × n_steps (default: 4,096)."),
    ] = None,
    eval_every: Annotated[
        int | None, typer.Option(help="Timesteps between held-out evaluations (default: 500k).")
    ] = None,
    eval_debtors: Annotated[
        int | None, typer.Option(help="Held-out debtors per evaluation (default: 3,000).")
    ] = None,
    randomise: Annotated[
        bool, typer.Option(help="Train on randomised behaviour parameters.")
    ] = False,
    config_json: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="JSON file of further TrainConfig fields (e.g. a card's run_config); options "
            "given on the command line win.",
        ),
    ] = None,
) -> None:
    """Train a MaskablePPO policy on a scenario and export it to policies/models/<name>/.

    Without options this is the shipped policy's recipe (policies.train_config.TrainConfig).
    """
    from dataclasses import fields

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from policies.train import train as run_training
    from policies.train_config import TrainConfig

    extra: dict[str, object] = {}
    if config_json is not None:
        known = {f.name for f in fields(TrainConfig)}
        loaded = json.loads(config_json.read_text(encoding="utf-8"))
        unknown = sorted(set(loaded) - known - {"run_name"})
        if unknown:
            raise typer.BadParameter(
                f"{config_json} has fields TrainConfig does not know: {unknown}; "
                f"allowed: {sorted(known)}"
            )
        extra = {k: v for k, v in loaded.items() if k in known}
        if "net_arch" in extra:
            extra["net_arch"] = tuple(extra["net_arch"])  # type: ignore[arg-type]
        extra.pop("started_at", None)
    given = {
        "total_timesteps": timesteps,
        "n_envs": n_envs,
        "n_steps": n_steps,
        "batch_size": batch_size,
        "eval_every": eval_every,
        "eval_debtors": eval_debtors,
    }
    try:
        config = TrainConfig(
            **{
                **extra,
                "scenario": scenario,
                "algo": algo,
                "seed": seed,
                "name": name,
                "randomise": randomise,
                **{k: v for k, v in given.items() if v is not None},
            }  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    from policies.artifacts import MODELS_DIR

    destination = Path(config.models_dir or MODELS_DIR) / config.artifact_name
    spec = f"rl:{config.artifact_name}" if config.models_dir is None else f"rl:{destination}"
    console.print(f"[bold]run[/bold] {config.run_name} → {destination}")
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("training", total=config.total_timesteps)

        def on_step(timesteps: int) -> None:
            progress.update(task, completed=min(timesteps, config.total_timesteps))

        def on_eval(point: EvalPoint) -> None:
            k = point.kpis
            progress.console.print(
                f"  {point.timesteps:>10,} steps {point.seconds:6.0f}s  reward/case "
                f"{k['reward_per_case']:+.3f}  net value {k['net_value_per_case']:.2f}  "
                f"complaints/1k {k['complaints_per_1000']:.0f}  churn "
                f"{k.get('churn_90d', float('nan')):.1f}%" + ("  ★ best" if point.best else "")
            )

        result = run_training(config, on_step=on_step, on_eval=on_eval)
    console.print(
        f"trained in {result.wall_time_s / 60:.1f} min; {config.reference} on the same held-out "
        "debtors: "
        f"reward/case {result.reference['reward_per_case']:+.3f}, net value "
        f"{result.reference['net_value_per_case']:.2f}"
    )
    console.print(f"artifact: {result.artifact_dir}  (evaluate with --policies {spec})")


@app.command()
def evaluate(
    scenario: ScenarioOption = "nordic-telecom",
    policies: Annotated[
        str,
        typer.Option(
            help="Comma-separated: ladder, segmented, random, rl:<name>, simple:<spec>, "
            "best-simple[:<scenario>], oracle (reads the simulator's hidden state: a "
            "reference, never served). The champion is the better of segmented and best-simple."
        ),
    ] = "ladder,segmented,random,best-simple,rl:default,oracle",
    debtors: Annotated[int, typer.Option(help="Debtors per policy (the same for all).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the debtor population and streams.")] = (
        1_000_000
    ),
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the KPI JSON here.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    randomise: Annotated[
        bool, typer.Option(help="Randomise behaviour parameters (held-out variants).")
    ] = False,
    audit_contacts: Annotated[
        int, typer.Option(help="Contacts per policy re-checked through durable_rules; 0 = all.")
    ] = 5000,
    batch_size: BatchSizeOption = 4096,
) -> None:
    """Evaluate policies on the same simulated debtors: KPIs with 95 % CIs, audit, report."""
    from engine.compliance import ComplianceEngine
    from engine.errors import PolicyLoadError
    from policies.evaluate import evaluate as run_evaluation
    from policies.evaluate import resolve_policy, write_json
    from policies.train_config import EVAL_SEED_OFFSET
    from simulator.masks import compliance_masks
    from simulator.scenario_loader import load_scenario

    specs = [s.strip() for s in policies.split(",") if s.strip()]
    if seed < EVAL_SEED_OFFSET:
        console.print(
            f"[yellow]warning:[/yellow] seed {seed} lies in the training seed range "
            f"[0, {EVAL_SEED_OFFSET}); use a seed ≥ {EVAL_SEED_OFFSET} for held-out debtors"
        )
    loaded = {}
    for spec in specs:
        try:
            loaded[spec] = resolve_policy(spec)
        except PolicyLoadError as exc:
            raise typer.BadParameter(
                f"{exc} (tact evaluate also knows 'oracle', the hidden-state reference)",
                param_hint="--policies",
            ) from exc
    sc = load_scenario(scenario)
    _warn_if_searched_elsewhere(loaded, sc)
    with _progress_bars() as progress:
        tasks = {s: progress.add_task(s, total=debtors) for s in specs}

        def advance(name: str, finished: int) -> None:
            spec = next((s for s in specs if loaded[s].name == name), None)
            if spec is not None:
                progress.advance(tasks[spec], finished)

        result = run_evaluation(
            sc,
            specs,
            debtors,
            compliance_masks(),
            ComplianceEngine.load(),
            seed=seed,
            randomise=randomise,
            batch_size=batch_size,
            audit_contacts=audit_contacts or None,
            load=lambda spec: loaded[spec],
            progress=advance,
        )
    _print_table(result)
    if json_out is not None:
        console.print(f"JSON: {write_json(result, json_out)}")
    if report is not None:
        from policies.report import write_report

        console.print(f"report: {write_report(result, report)}")


def _warn_if_searched_elsewhere(loaded: Mapping[str, Policy], scenario: Scenario) -> None:
    """A best-simple winner found on another scenario, or on an older version of this one,
    is still a valid policy, but not the family's best here: say so."""
    from policies.best_simple import BestSimplePolicy
    from policies.simple_search import scenario_hash

    for spec, policy in loaded.items():
        if not isinstance(policy, BestSimplePolicy):
            continue
        found = policy.artifact
        if found.scenario != scenario.name:
            problem = f"was searched on scenario {found.scenario!r}, not {scenario.name!r}"
        elif found.scenario_hash != scenario_hash(scenario):
            problem = f"was searched before scenario {scenario.name!r} last changed"
        else:
            continue
        console.print(
            f"[yellow]warning:[/yellow] {spec} (simple:{found.winner}) {problem}; re-run "
            f"`tact search-simple --scenario {scenario.name} --seed {found.seed}`"
        )


@app.command("search-simple")
def search_simple(
    scenario: ScenarioOption = "nordic-telecom",
    seed: Annotated[
        int, typer.Option(help="Training seed (< 1,000,000) the stage seeds are drawn from.")
    ] = 0,
    debtors_per_stage: Annotated[
        str, typer.Option(help="Comma-separated debtors of each successive-halving stage.")
    ] = "500,2000,16000",
    keep_fraction: Annotated[
        float, typer.Option(help="Share of members promoted after each stage but the last two.")
    ] = 0.25,
    finalists: Annotated[int, typer.Option(help="Members in the last stage.")] = 4,
    member: Annotated[
        list[str] | None,
        typer.Option(help="A member spec to search (repeat); default: the whole SIMPLE_GRID."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Artifact path (default: policies/models/best-simple/<scenario>.json)."),
    ] = None,
    batch_size: BatchSizeOption = 4096,
) -> None:
    """Find the best simple fixed strategy on training debtors; write the best-simple artifact."""
    from engine.compliance import ComplianceEngine
    from policies.simple import SIMPLE_GRID, SimpleStrategy, StrategySpecError
    from policies.simple_search import SearchPlan, search_command, write_artifact
    from policies.simple_search import search_simple as run_search
    from simulator.masks import compliance_masks
    from simulator.scenario_loader import load_scenario

    try:
        stage_debtors = tuple(int(d) for d in debtors_per_stage.split(",") if d.strip())
        plan = SearchPlan(stage_debtors, keep_fraction, finalists)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--debtors-per-stage") from exc
    try:
        members = [SimpleStrategy.parse(m) for m in member] if member else list(SIMPLE_GRID)
    except StrategySpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--member") from exc
    sc = load_scenario(scenario)
    custom = [m.spec for m in members] if member else []
    command = search_command(scenario, seed, plan, custom)
    with _progress_bars() as progress:
        tasks = [
            progress.add_task(f"stage {i + 1}: {n:,} debtors", total=None)
            for i, n in enumerate(plan.stage_debtors)
        ]

        def advance(stage: int, done: int, total: int) -> None:
            progress.update(tasks[stage], completed=done, total=total)

        try:
            artifact = run_search(
                sc,
                compliance_masks(),
                ComplianceEngine.load(),
                seed=seed,
                members=members,
                plan=plan,
                batch_size=batch_size,
                command=command,
                progress=advance,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    for i, stage in enumerate(artifact.stages, start=1):
        console.print(
            f"[bold]stage {i}[/bold]: {len(stage.rows)} members × {stage.debtors:,} debtors, "
            f"seed {stage.seed}, {stage.seconds:.0f} s; net value per case [95 % CI], best 10:"
        )
        for rank, row in enumerate(stage.rows[:10], start=1):
            lo, hi = row.ci95
            console.print(f"  {rank:>2}  {row.mean:7.2f} [{lo:7.2f}, {hi:7.2f}]  {row.member}")
    path = write_artifact(artifact, out)
    console.print(
        f"winner: simple:{artifact.winner}  ({artifact.wall_time_s / 60:.1f} min)\n"
        f"artifact: {path}  (evaluate with --policies segmented,best-simple"
        + ("" if sc.name == "nordic-telecom" else f":{sc.name}")
        + ")"
    )


def _progress_bars() -> Progress:
    """One bar per task: description, bar, done of total, time elapsed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _print_table(result: Evaluation) -> None:
    data = result.to_json()["policies"]
    title = f"{result.scenario.name}, {result.debtors:,} debtors, seed {result.seed}"
    if result.randomise:
        title += ", randomised"
    table = Table(title=title + " (mean [95 % CI])")
    table.add_column("policy")
    for _, label, _ in _HEADLINE:
        table.add_column(label, justify="right")
    for name, block in data.items():
        kpis = block["kpis"]
        cells = []
        for key, _, fmt in _HEADLINE:
            if key not in kpis:
                cells.append("—")
                continue
            k = kpis[key]
            lo, hi = k["ci95"]
            cells.append(f"{fmt.format(k['mean'])} [{fmt.format(lo)}, {fmt.format(hi)}]")
        table.add_row(name, *cells)
    console.print(table)
    best = result.champion
    if best is not None:
        console.print(f"  champion (better of segmented, best-simple): {best}")
        for name, block in data.items():
            rel = block["paired"].get(best, {}).get("net_value_per_case_rel_pct")
            if rel is None:
                continue
            diff = block["paired"][best]["net_value_per_case"]
            dlo, dhi = diff["ci95"]
            if rel["mean"] is None:
                share = f"(not relative: {best}'s net value is not distinguishable from 0)"
            else:
                lo, hi = rel["ci95"]
                share = f"= {rel['mean']:+.1f} % [{lo:+.1f}, {hi:+.1f}]"
            console.print(
                f"  {name}: net value per case {diff['mean']:+.2f} [{dlo:+.2f}, {dhi:+.2f}] "
                f"{share} vs {best} (paired)"
            )
    for name, block in data.items():
        mix = block["treatment_mix"]
        console.print(
            f"  {name}: top treatment {mix['top_treatment']} {mix['top_share']:.0%} of "
            f"{mix['contacts']:,} contacts, entropy {mix['entropy_bits']:.2f} bits"
        )
    for name, run in result.runs.items():
        a = run.audit
        console.print(
            f"  {name}: audit {a.contacts_audited:,} of {a.contacts_executed:,} contacts "
            f"({a.sample}), {a.violations} violations, {a.blocked_requests} blocked requests"
        )


__all__ = ["app"]
