"""The OPE validity bar: log a champion with case exploration through the service, estimate
candidates, compare with their true values on the same debtors.

1. `tact serve` runs an experiment whose champion (``--logger``) hands ``--share`` of its
   cases to a pool (``--pool``, the share split evenly), each case run by one policy from
   its first decision to its last, the runner and the mixture logged with every decision
   (optionally with per-decision ε-greedy exploration, ``--epsilon``);
   `tact simulate --against` sends ``--debtors`` simulated debtors (evaluation seed ≥
   1,000,000) through it.
2. Each candidate is estimated from that ledger — the case-level MIS (unbiased) and SNMIS
   (self-normalised), policies.ope.case_importance, plus the per-decision estimators — and
   also *run* in-process on the same debtors: its true collected amount per case.
3. Reported per candidate: does each case-level 95 % CI contain the truth; is the ranking
   of candidates whose true values differ by ≥ 5 % right (by each estimator's point
   value). Then the same with wrong logged case propensities (``--wrong-shares``, default:
   an even split claimed over the mixture): the misses must show.

    .venv/bin/python bench/bench_ope.py --debtors 2000 [--share 0.3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine  # noqa: F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import numpy as np
from served import tact_serve

from engine.experiments.case_exploration import parse_components
from policies.evaluate import resolve_policy
from policies.ope.case_importance import with_claimed_shares
from policies.ope.logged import LoggedDecisions, read_ledger
from policies.ope.run import OpeResult, case_explored, evaluate_candidate
from simulator.against import simulate_against
from simulator.masks import compliance_masks
from simulator.rollout import simulate
from simulator.scenario_loader import load_scenario

CASE_ESTIMATORS = ("MIS", "SNMIS")


def experiment_text(logger: str, pool: list[str], share: float, epsilon: float) -> str:
    policies = ", ".join(f'"{p}"' for p in pool)
    text = (
        f"id: ope-bench\nchampion: {logger}\n"
        f"case_exploration: {{share: {share}, policies: [{policies}]}}\n"
    )
    if epsilon > 0:
        text += f"exploration: {{kind: epsilon, epsilon: {epsilon}}}\n"
    return text


def log_through_the_service(args: argparse.Namespace) -> tuple[LoggedDecisions, dict[str, Any]]:
    scenario, masks = load_scenario("nordic-telecom"), compliance_masks()
    with tempfile.TemporaryDirectory(prefix="tact-ope-") as tmp:
        experiment = Path(tmp) / "experiment.yaml"
        experiment.write_text(
            experiment_text(args.logger, args.pool.split(","), args.share, args.epsilon)
        )
        url = f"sqlite:///{tmp}/tact.db"
        env = {"TACT_DATABASE_URL": url, "TACT_EXPERIMENT_FILE": str(experiment)}
        started = time.perf_counter()
        with tact_serve(env, Path(tmp) / "server.log") as server:
            run = simulate_against(server.address, scenario, args.debtors, masks, seed=args.seed)
        seconds = time.perf_counter() - started
        logged = read_ledger(url)
    return logged, {
        "logging_seconds": round(seconds, 1),
        "seconds_per_debtor": round(seconds / args.debtors, 3),
        "decisions_logged": len(logged),
        "decisions_per_second": round(len(logged) / seconds, 1),
        "blocked_in_simulator": run.blocked_in_simulator,
    }


def summary(result: OpeResult, truth: float) -> dict[str, Any]:
    found = {e.estimator: e for e in result.estimates}
    out: dict[str, Any] = {}
    for name in (*CASE_ESTIMATORS, "PDWIS"):
        if name not in found:  # --case-only
            continue
        e = found[name]
        out[name] = {
            "value": e.value,
            "ci": [e.ci_low, e.ci_high],
            "ess": e.ess,
            "covers": bool(e.ci_low <= truth <= e.ci_high),
        }
    check = result.case_weights
    assert check is not None
    out["mean_weight"] = [check.mean, check.ci_low, check.ci_high]
    out["mean_weight_consistent"] = check.consistent
    out["cases_followed"] = check.matched_cases
    out["warnings"] = result.warnings
    return out


def coupled_share(logged: LoggedDecisions, spec: str, collected_major: np.ndarray) -> float:
    """Of the cases ``spec`` ran through the service, the share that collected exactly what
    the same debtor (``…-sim-<serial>``) collected when ``spec`` ran it in-process: the
    truth is a value on the same debtors with the same luck when this is 1."""
    starts = logged.case_starts()
    ran = [k for k, s in enumerate(starts) if logged.case_runner[s] == spec]
    if not ran:
        return float("nan")
    paid = np.add.reduceat(logged.reward, starts)
    serial = np.array([int(str(logged.case_id[starts[k]]).rsplit("-", 1)[1]) for k in ran])
    return float(np.mean(np.abs(paid[ran] - collected_major[serial]) < 0.005))


def ranking(rows: dict[str, dict[str, Any]], estimator: str, key: str) -> tuple[int, int]:
    """(pairs whose true values differ by ≥ 5 %, of which ranked right by ``estimator``)."""
    names = list(rows)
    pairs = right = 0
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ta, tb = rows[a]["true_per_case"], rows[b]["true_per_case"]
            if abs(ta - tb) >= 0.05 * max(abs(ta), abs(tb)):
                pairs += 1
                va, vb = rows[a][key][estimator]["value"], rows[b][key][estimator]["value"]
                right += (va > vb) == (ta > tb)
    return pairs, right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=2_000, help="the bar asks for 20,000")
    parser.add_argument("--seed", type=int, default=1_000_000)
    parser.add_argument("--logger", default="segmented")
    parser.add_argument("--pool", default="best-simple,rl:default,ladder")
    parser.add_argument("--share", type=float, default=0.3, help="share of cases the pool runs")
    parser.add_argument("--epsilon", type=float, default=0.0, help="per-decision ε (0: none)")
    parser.add_argument("--candidates", default="segmented,best-simple,rl:default,ladder")
    parser.add_argument(
        "--wrong-shares",
        default="even",
        help="claimed shares for the wrong-propensity run: 'even', or policy=share,...",
    )
    parser.add_argument(
        "--ledger",
        default=None,
        help="estimate from this ledger URL instead of logging (same --debtors and --seed)",
    )
    parser.add_argument(
        "--case-only",
        action="store_true",
        help="only the case-level estimators (skip IPS, SNIPS, DR, PDWIS: slow on 20,000 debtors)",
    )
    parser.add_argument("--boot", type=int, default=400)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.ledger:
        # A ledger logged earlier (by this script's logging step, or a `tact serve` that
        # `tact simulate --against` drove with --debtors/--seed as given here).
        logged, logging = read_ledger(args.ledger), {"ledger": args.ledger}
    else:
        logged, logging = log_through_the_service(args)
    components = parse_components(str(logged.case_mixture[0]))
    if args.wrong_shares == "even":
        claimed = {c.policy: 1.0 / len(components) for c in components}
    else:
        claimed = {k: float(v) for k, v in (kv.split("=") for kv in args.wrong_shares.split(","))}
    wrong = with_claimed_shares(logged, claimed)
    started = time.perf_counter()
    cases, wrong_cases = case_explored(logged), case_explored(wrong)
    assert cases is not None and wrong_cases is not None
    scenario, masks = load_scenario("nordic-telecom"), compliance_masks()
    rows: dict[str, dict[str, Any]] = {}
    for spec in args.candidates.split(","):
        policy = resolve_policy(spec)
        truth_run = simulate(scenario, policy, args.debtors, masks, seed=args.seed, log_steps=False)
        collected = truth_run.outcomes.collected_minor / 100.0
        truth = float(collected.mean())
        per_decision = not args.case_only
        right = evaluate_candidate(
            spec, policy, logged, n_boot=args.boot, cases=cases, per_decision=per_decision
        )
        bad = evaluate_candidate(
            spec, policy, wrong, n_boot=args.boot, cases=wrong_cases, per_decision=per_decision
        )
        order = np.argsort(truth_run.outcomes.serial)
        rows[spec] = {
            "true_per_case": truth,
            "same_outcome_as_in_process": coupled_share(logged, spec, collected[order]),
            "logged": summary(right, truth),
            "wrong_shares": summary(bad, truth),
        }
    ranked = {}
    for estimator in (*CASE_ESTIMATORS, *(() if args.case_only else ("PDWIS",))):
        pairs, right_pairs = ranking(rows, estimator, "logged")
        ranked[estimator] = {"pairs": pairs, "right": right_pairs}
    verdict = {
        estimator: {
            "covers": sum(r["logged"][estimator]["covers"] for r in rows.values()),
            "of": len(rows),
            "ranked_right": f"{ranked[estimator]['right']} of {ranked[estimator]['pairs']}",
            "wrong_shares_missed": sum(
                not r["wrong_shares"][estimator]["covers"] for r in rows.values()
            ),
            "wrong_shares_flagged_by_mean_weight": sum(
                not r["wrong_shares"]["mean_weight_consistent"] for r in rows.values()
            ),
        }
        for estimator in CASE_ESTIMATORS
    }
    result = {
        "debtors": args.debtors,
        "seed": args.seed,
        "logger": args.logger,
        "pool": args.pool.split(","),
        "share": args.share,
        "epsilon": args.epsilon,
        "mixture": {c.policy: c.share for c in components},
        "claimed_wrong_shares": claimed,
        **logging,
        "cases": len(cases),
        "cases_left_out": {
            "mixed": cases.mixed,
            "unexplained": cases.unexplained,
            "runner_mismatch_decisions": cases.runner_mismatch,
        },
        "candidates": rows,
        "ranking_pairs_5pct": ranked,
        "verdict": verdict,
        "estimation_seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=2))
    for spec, row in rows.items():
        good, bad = row["logged"], row["wrong_shares"]
        print(
            f"{spec:>12}: true {row['true_per_case']:8.2f} | "
            + " | ".join(
                f"{n} {good[n]['value']:7.2f} [{good[n]['ci'][0]:7.2f}, {good[n]['ci'][1]:7.2f}]"
                f" {'covers' if good[n]['covers'] else 'MISSES'}"
                for n in CASE_ESTIMATORS
            )
            + f" | ESS {good['MIS']['ess']:.0f} | wrong: MIS {bad['MIS']['value']:.2f} "
            f"{'covers' if bad['MIS']['covers'] else 'misses'}, SNMIS "
            f"{'covers' if bad['SNMIS']['covers'] else 'misses'}, mean weight "
            "{:.2f} [{:.2f}, {:.2f}]".format(*bad["mean_weight"]),
            file=sys.stderr,
        )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
