"""``tact benchmark``: known-optimum benchmarks of the RL pipeline.

Mounted by :mod:`tact.cli` as ``tact benchmark``. torch and SB3 are imported inside the
command, so listing commands stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Known-optimum benchmarks: check that training reaches the optimum where it is known.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Known-optimum benchmarks (a group, so that ``cgw`` stays a named sub-command)."""


def _fmt(value: float) -> str:
    return f"{value:,.3f}"


def _print_table(result: Any, console: Console) -> None:
    table = Table(
        title=(
            f"CGW credit collections, start λ={result.start_state['lam']}, "
            f"w={result.start_state['w']}, actions {result.action_set} {result.actions}"
        )
    )
    table.add_column("policy")
    table.add_column("value", justify="right")
    table.add_column("95 % CI", justify="right")
    table.add_column("how", justify="left")
    table.add_row("no action", _fmt(result.no_action_quadrature), "", "quadrature")
    na = result.no_action_mc
    table.add_row(
        "no action",
        _fmt(na.mean),
        f"[{_fmt(na.ci_low)}, {_fmt(na.ci_high)}]",
        f"MC, {na.episodes:,} ep.",
    )
    table.add_row("optimal", _fmt(result.optimal_value), "", "exact DP")
    gm = result.optimal_greedy_mc
    table.add_row(
        "optimal (greedy)",
        _fmt(gm.mean),
        f"[{_fmt(gm.ci_low)}, {_fmt(gm.ci_high)}]",
        f"MC, {gm.episodes:,} ep.",
    )
    lm = result.learned_mc
    table.add_row(
        "learned",
        _fmt(lm.mean),
        f"[{_fmt(lm.ci_low)}, {_fmt(lm.ci_high)}]",
        f"MC, {lm.episodes:,} ep.",
    )
    low, high = result.gap_ci_pct
    table.add_row(
        "gap to optimum",
        f"{result.gap_pct:.2f} %",
        f"[{low:.2f} %, {high:.2f} %]",
        "(opt - learned) / opt",
    )
    console.print(table)
    if result.training:
        t = result.training
        console.print(
            f"model {result.model}: trained {t.get('timesteps', '?'):,} steps in "
            f"{t.get('wall_seconds', float('nan')) / 60:.1f} min (seed {t.get('seed', '?')})"
        )


def _display_path(path: Path) -> str:
    """``path`` relative to the repository root when inside it (stable across checkouts)."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _print_convergence(rows: list[Any], console: Console) -> None:
    table = Table(title="Exact solver: value at the start state as the grid is refined")
    for name in ("n_λ", "n_u (log w)", "sub-steps", "value", "change", "seconds"):
        table.add_column(name, justify="right")
    for row in rows:
        change = "" if row.change_pct is None else f"{row.change_pct:+.4f} %"
        table.add_row(
            str(row.n_lam),
            str(row.n_u),
            str(row.n_sub),
            f"{row.value:.4f}",
            change,
            f"{row.seconds:.1f}",
        )
    console.print(table)


@app.command("cgw")
def cgw(
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write all numbers to this JSON file.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Save the optimal-vs-learned action map (PNG).")
    ] = None,
    train: Annotated[
        bool, typer.Option("--train", help="Retrain from scratch instead of loading the model.")
    ] = False,
    episodes: Annotated[
        int, typer.Option("--episodes", min=2, help="Monte Carlo episodes per policy.")
    ] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of evaluation (and training).")] = 0,
    actions: Annotated[
        str, typer.Option("--actions", help="Action set: coarse or fine.")
    ] = "coarse",
    model: Annotated[
        Path | None, typer.Option("--model", help="Model zip to load (default: shipped one).")
    ] = None,
    save_model: Annotated[
        Path | None, typer.Option("--save-model", help="With --train: save the model here.")
    ] = None,
    convergence: Annotated[
        bool,
        typer.Option("--convergence", help="Also run the solver's grid-refinement study (~1 min)."),
    ] = False,
) -> None:
    """Chehrazi–Glynn–Weber credit collections: no-action, optimal and learned values."""
    from dataclasses import replace

    import torch
    from sb3_contrib import MaskablePPO

    from policies.cgw.agent import LearnedCGWPolicy
    from policies.cgw.benchmark import (
        plot_policy_map,
        run_benchmark,
        shipped_model_path,
        shipped_result_path,
    )
    from policies.cgw.config import CGWTrainingConfig
    from policies.cgw.training import train as train_agent
    from policies.cgw.training import training_params
    from simulator.cgw.params import ACTION_SETS

    # Small batches on a shared 2-core machine: more threads only add contention.
    torch.set_num_threads(1)
    console = Console()
    if actions not in ACTION_SETS:
        raise typer.BadParameter(
            f"unknown action set {actions!r}; choose one of {sorted(ACTION_SETS)}",
            param_hint="--actions",
        )
    training: dict[str, Any]
    if train:
        config = replace(CGWTrainingConfig(), seed=seed, action_set=actions)
        console.print(f"training MaskablePPO from scratch: {config.total_timesteps:,} steps …")
        agent = train_agent(
            config,
            progress=lambda point: console.print(
                f"  {point['timesteps']:>10,.0f} steps, {point['seconds']:6.0f} s: "
                f"value {point['value']:.2f} ± {point['half_width']:.2f}"
            ),
        )
        policy_model = agent.model
        params = agent.params
        model_label = agent.run_name
        training = {
            "run_name": agent.run_name,
            "wall_seconds": agent.wall_seconds,
            "timesteps": config.total_timesteps,
            "seed": config.seed,
            "config": config.to_dict(),
            "learning_curve": agent.learning_curve,
        }
        if save_model is not None:
            agent.model.save(save_model)
            model_label = _display_path(save_model)
    else:
        path = model or shipped_model_path(actions)
        if not path.exists():
            raise typer.BadParameter(
                f"no model at {path}; pass --model PATH or --train to train one",
                param_hint="--model",
            )
        config = CGWTrainingConfig(action_set=actions)
        params = training_params(config)
        policy_model = MaskablePPO.load(path, device="cpu")
        model_label = _display_path(path)
        record = shipped_result_path(actions)
        training = {}
        if model is None and record.exists():
            training = json.loads(record.read_text()).get("training", {})
    learned = LearnedCGWPolicy(policy_model, params)
    with console.status("solving exactly and running Monte Carlo …"):
        result, solution = run_benchmark(
            learned, params, actions, episodes, seed, model_label, training
        )
    _print_table(result, console)
    if convergence:
        from dataclasses import asdict

        from simulator.cgw.convergence import convergence_study

        with console.status("grid-refinement study …"):
            rows = convergence_study(params)
        result = replace(result, convergence=[asdict(row) for row in rows])
        _print_convergence(rows, console)
    if json_out is not None:
        result.write_json(json_out)
        console.print(f"wrote {json_out}")
    if plot is not None:
        plot_policy_map(solution, learned, plot)
        console.print(f"wrote {plot}")
