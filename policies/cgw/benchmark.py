"""The CGW known-optimum benchmark: no-action, optimal and learned values side by side.

Everything is evaluated at the reference start state (lam0, w0). The optimal value is the
exact dynamic-programming value; the no-action value comes from quadrature and Monte
Carlo; the learned and the solver's greedy policy are evaluated by Monte Carlo with 95 %
confidence intervals, all with the same dynamics as the env.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.cgw.grid import GridSpec
from simulator.cgw.montecarlo import BatchPolicy, MCEstimate, evaluate, no_action_policy
from simulator.cgw.no_action import no_action_value
from simulator.cgw.params import CGWParams
from simulator.cgw.solver import CGWSolution, solve

#: Solver grid of the benchmark: within 0.003 % of the finest grid of the convergence study.
BENCHMARK_GRID = GridSpec(n_lam=400, n_u=128, n_sub=8)

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "cgw"


def shipped_model_path(action_set: str = "coarse") -> Path:
    """Path of the shipped model zip for an action set."""
    return MODEL_DIR / f"maskable_ppo_{action_set}.zip"


def shipped_result_path(action_set: str = "coarse") -> Path:
    """Path of the JSON record (training run and evaluation) of the shipped model."""
    return MODEL_DIR / f"result_{action_set}.json"


@dataclass(frozen=True, slots=True)
class Estimate:
    """A Monte Carlo estimate as stored in the JSON result."""

    mean: float
    ci_low: float
    ci_high: float
    std: float
    episodes: int

    @classmethod
    def of(cls, est: MCEstimate) -> Estimate:
        """From a :class:`MCEstimate`."""
        low, high = est.ci
        return cls(est.mean, low, high, est.std, est.episodes)


@dataclass(frozen=True)
class BenchmarkResult:
    """All numbers of one benchmark run (JSON-serialisable via :meth:`to_dict`)."""

    action_set: str
    actions: list[float]
    start_state: dict[str, float]
    episodes: int
    seed: int
    no_action_quadrature: float
    no_action_mc: Estimate
    optimal_value: float
    optimal_greedy_mc: Estimate
    learned_mc: Estimate
    gap_pct: float
    gap_ci_pct: tuple[float, float]
    solver_grid: dict[str, Any]
    solver_seconds: float
    model: str
    training: dict[str, Any] = field(default_factory=dict)
    convergence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["gap_ci_pct"] = list(self.gap_ci_pct)
        return out

    def write_json(self, path: Path) -> None:
        """Write :meth:`to_dict` as indented JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def gap_pct(optimal: float, learned: MCEstimate) -> tuple[float, tuple[float, float]]:
    """Gap of the learned value below the optimum in %, with the CI carried over."""
    low, high = learned.ci
    return (
        100.0 * (optimal - learned.mean) / optimal,
        (100.0 * (optimal - high) / optimal, 100.0 * (optimal - low) / optimal),
    )


def run_benchmark(
    learned: BatchPolicy,
    params: CGWParams,
    action_set: str,
    episodes: int,
    seed: int,
    model: str,
    training: dict[str, Any] | None = None,
    grid: GridSpec = BENCHMARK_GRID,
    solution: CGWSolution | None = None,
) -> tuple[BenchmarkResult, CGWSolution]:
    """Solve exactly, then evaluate no-action, greedy-optimal and learned policies by MC.

    Each policy gets its own seed stream (derived from ``seed``) so that adding a policy
    never changes another's estimate.
    """
    solution = solution or solve(params, grid)
    no_action = no_action_value(params, grid)
    no_action_mc = evaluate(no_action_policy, params, episodes, seed=seed)
    greedy_mc = evaluate(solution.greedy_action, params, episodes, seed=seed + 1)
    learned_mc = evaluate(learned, params, episodes, seed=seed + 2)
    gap, gap_ci = gap_pct(solution.start_value, learned_mc)
    result = BenchmarkResult(
        action_set=action_set,
        actions=list(params.actions),
        start_state={"lam": params.lam0, "w": params.w0},
        episodes=episodes,
        seed=seed,
        no_action_quadrature=no_action.start_value,
        no_action_mc=Estimate.of(no_action_mc),
        optimal_value=solution.start_value,
        optimal_greedy_mc=Estimate.of(greedy_mc),
        learned_mc=Estimate.of(learned_mc),
        gap_pct=gap,
        gap_ci_pct=gap_ci,
        solver_grid=asdict(grid),
        solver_seconds=solution.seconds,
        model=model,
        training=training or {},
    )
    return result, solution


def plot_policy_map(
    solution: CGWSolution, learned: BatchPolicy, path: Path, lam_max: float = 3.0
) -> None:
    """Save a two-panel map of action sizes over (lam, w): optimal and learned.

    The optimal act/don't-act boundary is drawn on both panels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = solution.params
    lam = np.linspace(params.lam_inf, lam_max, 240)
    w = np.geomspace(params.w_min, params.w0, 200)
    lam_mesh, w_mesh = np.meshgrid(lam, w)
    flat_lam, flat_w = lam_mesh.ravel(), w_mesh.ravel()
    amounts = np.asarray(params.actions)
    optimal = amounts[solution.greedy_action(flat_lam, flat_w)].reshape(lam_mesh.shape)
    agent = amounts[learned(flat_lam, flat_w)].reshape(lam_mesh.shape)

    # One colour per action size: the policy is a map onto a small discrete set.
    edges = np.concatenate([[-0.5], np.arange(amounts.size) + 0.5])
    cmap = plt.get_cmap("viridis", amounts.size)
    norm = matplotlib.colors.BoundaryNorm(edges, cmap.N)
    index_of = {float(a): i for i, a in enumerate(amounts)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True, constrained_layout=True)
    mesh = None
    for ax, actions, title in (
        (axes[0], optimal, "optimal (exact DP)"),
        (axes[1], agent, "learned (MaskablePPO)"),
    ):
        indices = np.vectorize(index_of.__getitem__)(actions)
        mesh = ax.pcolormesh(lam_mesh, w_mesh, indices, cmap=cmap, norm=norm, shading="auto")
        ax.contour(
            lam_mesh,
            w_mesh,
            (optimal > 0).astype(float),
            levels=[0.5],
            colors="white",
            linewidths=1.5,
        )
        ax.plot([params.lam0], [params.w0], marker="*", color="red", markersize=14, clip_on=False)
        ax.set_yscale("log")
        ax.set_xlabel("intensity λ")
        ax.set_title(title)
    axes[0].set_ylabel("balance w")
    assert mesh is not None
    bar = fig.colorbar(mesh, ax=axes, label="action size a (intensity boost)")
    step = max(1, amounts.size // 8)
    bar.set_ticks([float(i) for i in range(0, amounts.size, step)])
    bar.set_ticklabels([f"{a:g}" for a in amounts[::step]])
    fig.suptitle("CGW: action by state; white line = optimal act/wait boundary, ★ = start")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
