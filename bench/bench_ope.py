"""The OPE validity bar: log an exploring champion through the service, estimate candidates.

1. `tact serve` runs an experiment whose champion (``--logger``) explores (ε-greedy over
   the allowed treatments, exact propensities stored); `tact simulate --against` sends
   ``--debtors`` simulated debtors (evaluation seed ≥ 1,000,000) through it.
2. Each candidate is estimated from that ledger (IPS, SNIPS, DR per decision; PDWIS per
   case) and also *run* in-process on the same debtors: its true collected amount per case.
3. Reported per candidate: does the PDWIS 95 % CI contain the truth; is the ranking of
   candidates whose true values differ by ≥ 5 % right. Then the same with the logged
   propensities replaced by wrong ones (as if the logger had not explored): the misses
   must show.

    .venv/bin/python bench/bench_ope.py [--debtors 20000] [--epsilon 0.2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine  # noqa: F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import numpy as np
from served import tact_serve

from policies.evaluate import resolve_policy
from policies.ope.logged import read_ledger
from policies.ope.run import evaluate_candidate
from simulator.against import simulate_against
from simulator.masks import compliance_masks
from simulator.rollout import simulate
from simulator.scenario_loader import load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1_000_000)
    parser.add_argument("--logger", default="segmented")
    parser.add_argument("--epsilon", type=float, default=0.2)
    parser.add_argument("--candidates", default="segmented,best-simple,rl:default,ladder")
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    scenario = load_scenario("nordic-telecom")
    masks = compliance_masks()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tact-ope-") as tmp:
        experiment = Path(tmp) / "experiment.yaml"
        experiment.write_text(
            f"id: ope-bench\nchampion: {args.logger}\n"
            f"exploration: {{kind: epsilon, epsilon: {args.epsilon}}}\n"
        )
        url = f"sqlite:///{tmp}/tact.db"
        env = {"TACT_DATABASE_URL": url, "TACT_EXPERIMENT_FILE": str(experiment)}
        with tact_serve(env, Path(tmp) / "server.log") as server:
            run = simulate_against(server.address, scenario, args.debtors, masks, seed=args.seed)
        logged = read_ledger(url)
    logging_s = time.perf_counter() - started
    rows: dict[str, Any] = {}
    wrong = replace(logged, propensity=np.ones(len(logged)))
    for spec in args.candidates.split(","):
        policy = resolve_policy(spec)
        truth_run = simulate(scenario, policy, args.debtors, masks, seed=args.seed, log_steps=False)
        truth = float(truth_run.outcomes.collected_minor.mean() / 100.0)
        estimates = {
            e.estimator: e
            for e in evaluate_candidate(spec, policy, logged, n_boot=args.boot).estimates
        }
        bad = {
            e.estimator: e
            for e in evaluate_candidate(spec, policy, wrong, n_boot=args.boot).estimates
        }
        p = estimates["PDWIS"]
        rows[spec] = {
            "true_per_case": truth,
            "pdwis": [p.value, p.ci_low, p.ci_high],
            "pdwis_ess": p.ess,
            "covers": bool(p.ci_low <= truth <= p.ci_high),
            "wrong_propensities_covers": bool(bad["PDWIS"].ci_low <= truth <= bad["PDWIS"].ci_high),
            "per_decision": {
                k: [e.value, e.ci_low, e.ci_high, e.ess]
                for k, e in estimates.items()
                if k != "PDWIS"
            },
        }
    names = list(rows)
    pairs, right = 0, 0
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ta, tb = rows[a]["true_per_case"], rows[b]["true_per_case"]
            if abs(ta - tb) >= 0.05 * max(abs(ta), abs(tb)):
                pairs += 1
                right += (rows[a]["pdwis"][0] > rows[b]["pdwis"][0]) == (ta > tb)
    result = {
        "debtors": args.debtors,
        "seed": args.seed,
        "logger": args.logger,
        "epsilon": args.epsilon,
        "decisions_logged": len(logged),
        "logging_seconds": round(logging_s, 1),
        "blocked_in_simulator": run.blocked_in_simulator,
        "candidates": rows,
        "ranked_pairs": pairs,
        "ranked_right": right,
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
