"""The loop bar: in-process evaluation vs the simulator driving the real service.

The same policy on the same debtors (evaluation seed ≥ 1,000,000), once in-process
(`tact simulate`'s rollout) and once through a `tact serve` subprocess over gRPC
(`tact simulate --against`): net value per case and resolution must agree within their
95 % CIs. Figures go to docs/experiments.md.

    .venv/bin/python bench/bench_simulate_against.py [--debtors 5000] [--policy segmented]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import tact_serve

import engine  # noqa: F401 - first: pins OpenBLAS to one thread before numpy loads
from simulator.against import simulate_against
from simulator.kpis import compute_kpis
from simulator.masks import compliance_masks
from simulator.policy_registry import resolve_policy
from simulator.rollout import simulate
from simulator.scenario_loader import load_scenario

KPIS = ("net_value_per_case", "resolution_rate", "recovery_rate", "complaints_per_1000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1_000_000)
    parser.add_argument("--policy", default="segmented")
    parser.add_argument("--scenario", default="nordic-telecom")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    masks = compliance_masks()
    started = time.perf_counter()
    local = simulate(
        scenario,
        resolve_policy(args.policy),
        args.debtors,
        masks,
        seed=args.seed,
        log_steps=False,
    )
    local_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="tact-loop-") as tmp:
        env = {"TACT_DATABASE_URL": f"sqlite:///{tmp}/tact.db", "TACT_POLICY": args.policy}
        with tact_serve(env, Path(tmp) / "server.log") as server:
            served = simulate_against(server.address, scenario, args.debtors, masks, seed=args.seed)
    a = {k.name: k for k in compute_kpis(served.outcomes, churn_applies=scenario.churn.enabled)}
    b = {k.name: k for k in compute_kpis(local.outcomes, churn_applies=scenario.churn.enabled)}
    rows = {}
    for name in KPIS:
        if name not in a:
            continue
        agree = a[name].ci_low <= b[name].mean <= a[name].ci_high and (
            b[name].ci_low <= a[name].mean <= b[name].ci_high
        )
        rows[name] = {
            "service": [a[name].mean, a[name].ci_low, a[name].ci_high],
            "in_process": [b[name].mean, b[name].ci_low, b[name].ci_high],
            "agree": bool(agree),
        }
    same = int((served.outcomes.collected_minor == local.outcomes.collected_minor).sum())
    result = {
        "scenario": scenario.name,
        "policy": args.policy,
        "debtors": args.debtors,
        "seed": args.seed,
        "decisions": served.decisions,
        "events_sent": served.events_sent,
        "blocked_in_simulator": served.blocked_in_simulator,
        "debtors_with_identical_collections": same,
        "service_seconds": round(served.seconds, 1),
        "in_process_seconds": round(local_s, 1),
        "decisions_per_second": round(served.decisions / served.seconds, 1),
        "kpis": rows,
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if not all(r["agree"] for r in rows.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
