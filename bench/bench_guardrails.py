"""The guardrail bar: 20 seeded runs of a harmful challenger and of an identical one.

A challenger gets ``--share`` (10 %) of the debtors, assigned as the service assigns them
(:func:`engine.experiments.runtime.assignment_bucket`, sticky per debtor). Debtors arrive
``--arrivals-per-day`` a day in random order; once a day the guardrails are evaluated by the
service's own code (:func:`engine.experiments.guardrails.evaluate_guardrails`: one-sided
mSPRT per guardrail) on what has happened so far to the debtors that have arrived. A run
ends at the first crossing (the rollback) or when every debtor's episode is over.

Bars: the harmful challenger (``daily-calls``: an agent call every day the rules allow,
else a firm demand by SMS) is rolled back before it reaches 2,000 debtors in every run; a
challenger identical to the champion is rolled back in at most 1 of 20.

The debtors are played out in-process (the simulator stepping both policies), not through
gRPC: 20 × 2 runs of thousands of debtors through the service would take hours on this
machine. The service path of the same code (stats from the ledger, rollback rows, share
to the champion) is tested in tests/engine/experiments/test_experiment_service.py.

    .venv/bin/python bench/bench_guardrails.py [--runs 20] [--debtors 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Tone
from engine.experiments.guardrails import evaluate_guardrails
from engine.experiments.runtime import ExperimentRuntime, assignment_bucket, challenger_arm
from engine.experiments.spec import CHAMPION_ARM, ExperimentSpec
from engine.experiments.store import ArmStats
from engine.state import ConsentStatus
from policies.base import PolicyDecisions, first_allowed
from simulator.masks import compliance_masks
from simulator.policy_registry import resolve_policy
from simulator.rollout import debtor_batches
from simulator.scenario_loader import load_scenario


class DailyCalls:
    """An agent call every day the rules allow it, else a firm demand by SMS."""

    name = "daily-calls"
    version = "bench"

    def __init__(self) -> None:
        calls = np.flatnonzero(
            (CATALOGUE.actions == Action.AGENT_CALL) & (CATALOGUE.channels == Channel.PHONE)
        )
        demands = np.flatnonzero(
            (CATALOGUE.actions == Action.DEMAND)
            & (CATALOGUE.channels == Channel.SMS)
            & (CATALOGUE.tones == Tone.FIRM)
        )
        self.preferences = np.concatenate([calls, demands])

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        n = masks.shape[0]
        indices = first_allowed(np.tile(self.preferences, (n, 1)), masks)
        return PolicyDecisions(indices.astype(np.int64), np.ones(n))


def play(
    champion: Any, challenger: Any, debtors: int, seed: int, share: float, experiment: str
) -> dict[str, np.ndarray]:
    """Each debtor's arm and the day in collection of its first complaint, opt-out and
    payment (-1: never), both policies in one simulator (arms chosen per row)."""
    scenario = load_scenario("nordic-telecom")
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("arm", "complaint", "opt_out", "paid")}
    for batch in debtor_batches(
        scenario, debtors, compliance_masks(), seed=seed, batch_size=debtors
    ):
        sim = batch.sim
        obs = sim.reset()
        n = sim.n
        arm = np.array([assignment_bucket(experiment, sim.case_id(r)) < share for r in range(n)])
        first = {k: np.full(n, -1, dtype=np.int64) for k in ("complaint", "opt_out", "paid")}
        opted_before = (sim.batch.consent == ConsentStatus.OPTED_OUT).sum(axis=1)
        day = 0
        while not sim.all_done:
            masks = sim.action_masks()
            a = champion.act(obs, masks, None).indices
            b = challenger.act(obs, masks, None).indices
            sim.step(np.where(arm, b, a))
            now = {
                "complaint": sim.batch.complaints_total > 0,
                "opt_out": (sim.batch.consent == ConsentStatus.OPTED_OUT).sum(axis=1)
                > opted_before,
                "paid": sim.dyn.collected_minor > 0,
            }
            for k, happened in now.items():
                first[k][(first[k] < 0) & happened] = day
            day += 1
            obs = sim.observe()
        out["arm"].append(arm)
        for k in first:
            out[k].append(first[k])
    return {k: np.concatenate(v) for k, v in out.items()}


def monitor(
    played: dict[str, np.ndarray], runtime: ExperimentRuntime, per_day: int, seed: int
) -> dict[str, Any]:
    """Daily guardrail checks over staggered arrivals; the first crossing, if any."""
    n = len(played["arm"])
    arrival = np.random.default_rng(seed).permutation(n) // per_day
    name = challenger_arm(runtime.spec.challengers[0].name)
    last_day = int(arrival.max()) + 200
    for day in range(last_day + 1):
        arrived = arrival <= day
        elapsed = day - arrival

        def count(kind: str, rows: np.ndarray, elapsed: np.ndarray = elapsed) -> int:
            when = played[kind][rows]
            return int(((when >= 0) & (when <= elapsed[rows])).sum())

        stats = {}
        for arm_name, rows in (
            (CHAMPION_ARM, arrived & ~played["arm"]),
            (name, arrived & played["arm"]),
        ):
            stats[arm_name] = ArmStats(
                int(rows.sum()),
                count("complaint", rows),
                count("opt_out", rows),
                count("paid", rows),
            )
        crossed = [s for s in evaluate_guardrails(runtime, stats, {}) if s.crossed]
        if crossed:
            return {
                "rolled_back": True,
                "day": day,
                "challenger_debtors": stats[name].debtors,
                "guardrail": crossed[0].guardrail,
                "reason": crossed[0].reason(),
            }
    return {"rolled_back": False, "challenger_debtors": int(played["arm"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--debtors", type=int, default=5000)
    parser.add_argument("--share", type=float, default=0.10)
    parser.add_argument("--arrivals-per-day", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1_000_000)
    parser.add_argument("--champion", default="segmented")
    parser.add_argument("--which", choices=("both", "harmful", "identical"), default="both")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    champion = resolve_policy(args.champion)
    cases = {"harmful": DailyCalls(), "identical": resolve_policy(args.champion)}
    if args.which != "both":
        cases = {args.which: cases[args.which]}
    results: dict[str, list[dict[str, Any]]] = {}
    started = time.perf_counter()
    for label, challenger in cases.items():
        results[label] = []
        for run in range(args.runs):
            experiment = f"guardrail-bench-{run}"
            spec = ExperimentSpec.model_validate(
                {
                    "id": experiment,
                    "champion": args.champion,
                    "challengers": [{"name": label, "policy": "x", "share": args.share}],
                }
            )
            runtime = ExperimentRuntime(spec, "bench", "", Path(""), {}, ())
            played = play(
                champion, challenger, args.debtors, args.seed + run, args.share, experiment
            )
            outcome = monitor(played, runtime, args.arrivals_per_day, args.seed + run)
            results[label].append(outcome)
            print(label, run, json.dumps(outcome), flush=True)
    summary: dict[str, Any] = {"settings": vars(args) | {"json": str(args.json)}}
    if "harmful" in results:
        h = results["harmful"]
        summary["harmful_rolled_back"] = sum(r["rolled_back"] for r in h)
        summary["harmful_rolled_back_before_2000"] = sum(
            r["rolled_back"] and r["challenger_debtors"] < 2000 for r in h
        )
        summary["harmful_debtors_at_rollback"] = [r.get("challenger_debtors") for r in h]
        summary["harmful_guardrails"] = sorted({r.get("guardrail", "") for r in h})
    if "identical" in results:
        summary["identical_rolled_back"] = sum(r["rolled_back"] for r in results["identical"])
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["runs"] = results
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
