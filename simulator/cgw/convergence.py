"""Grid-refinement study of the exact solver at the reference start state."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.cgw.grid import GridSpec
from simulator.cgw.params import CGWParams
from simulator.cgw.solver import solve


@dataclass(frozen=True, slots=True)
class ConvergenceRow:
    """Start-state value on one grid and its relative change from the previous grid."""

    n_lam: int
    n_u: int
    n_sub: int
    value: float
    change_pct: float | None
    seconds: float


def convergence_study(
    params: CGWParams | None = None,
    start: GridSpec | None = None,
    tolerance_pct: float = 0.1,
    extra_refinements: int = 2,
    max_refinements: int = 4,
) -> list[ConvergenceRow]:
    """Double n_lam, n_u and n_sub until the value changes by < ``tolerance_pct`` %, then
    refine ``extra_refinements`` more times to show the change keeps shrinking."""
    params = params or CGWParams()
    spec = start or GridSpec(n_lam=50, n_u=64, n_sub=2)
    rows: list[ConvergenceRow] = []
    extra_left = extra_refinements
    for _ in range(max_refinements + 1):
        sol = solve(params, spec)
        change = None
        if rows:
            change = 100.0 * (sol.start_value - rows[-1].value) / rows[-1].value
        rows.append(
            ConvergenceRow(spec.n_lam, spec.n_u, spec.n_sub, sol.start_value, change, sol.seconds)
        )
        if change is not None and abs(change) < tolerance_pct:
            if extra_left == 0:
                break
            extra_left -= 1
        spec = spec.refined(2)
    return rows
