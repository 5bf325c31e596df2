"""The guardrail bar: 20 seeded runs of a harmful challenger and of an identical one.

A challenger gets ``--share`` (10 %) of the debtors, assigned as the service assigns them
(sticky per debtor). Debtors arrive ``--arrivals-per-day`` a day. The harmful challenger is
``daily-calls`` (:mod:`policies.daily_calls`: an agent call every day the rules allow, else
a firm demand by SMS); the identical one is the champion's policy again.

Bars: the harmful challenger is rolled back before it reaches 2,000 debtors in every run; the
identical one is rolled back in at most 1 of 20.

Two ways to run it:

* ``--through-service`` (the bar as the issue states it): each run starts a `tact serve`
  (SQLite ledger) under an experiment file and drives it with ``tact simulate --against``'s
  code (:func:`simulator.against.simulate_against` with ``arrivals_per_day``): every
  decision comes from the service, every outcome goes back by ``RecordEvents``, and the
  service's own guardrail pass (every ``--check-seconds``, from its ledger) rolls the
  challenger back. After each simulated day ``GetExperiment`` is read; a run ends at the
  rollback, after ``--days`` days, or when every debtor's episode is over.
* in-process (the default, much faster): both policies stepped in one simulator, arm per
  row by the service's assignment hash, the service's guardrail code
  (:func:`engine.experiments.guardrails.evaluate_guardrails`) evaluated once a day on what
  has happened so far to the debtors who have arrived.

    .venv/bin/python bench/bench_guardrails.py [--through-service] [--runs 20]
        [--debtors 5000] [--days D] [--which harmful|identical|both] [--json out.json]
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

import grpc
import numpy as np
from served import tact_serve

import engine  # noqa: F401 - first: pins OpenBLAS to one thread before numpy loads
from engine.experiments.guardrails import evaluate_guardrails
from engine.experiments.runtime import ExperimentRuntime, assignment_bucket, challenger_arm
from engine.experiments.spec import CHAMPION_ARM, ExperimentSpec
from engine.experiments.store import ArmStats
from engine.state import ConsentStatus
from simulator.against import simulate_against
from simulator.masks import compliance_masks
from simulator.policy_registry import resolve_policy
from simulator.rollout import debtor_batches
from simulator.scenario_loader import load_scenario
from tact.v1 import admin_service_pb2 as admin_pb
from tact.v1 import admin_service_pb2_grpc as admin_rpc

HARMFUL = "daily-calls"


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


def in_process_run(label: str, policy: str, args: argparse.Namespace, run: int) -> dict[str, Any]:
    """One run played in-process, the guardrail code evaluated once a simulated day."""
    experiment = f"guardrail-bench-{run}"
    spec = ExperimentSpec.model_validate(
        {
            "id": experiment,
            "champion": args.champion,
            "challengers": [{"name": label, "policy": policy, "share": args.share}],
        }
    )
    runtime = ExperimentRuntime(spec, "bench", "", Path(""), {}, ())
    played = play(
        resolve_policy(args.champion),
        resolve_policy(policy),
        args.debtors,
        args.seed + run,
        args.share,
        experiment,
    )
    return monitor(played, runtime, args.arrivals_per_day, args.seed + run)


def experiment_file(label: str, policy: str, args: argparse.Namespace, run: int) -> str:
    """The service's experiment: default guardrails, checked every ``--check-seconds``."""
    return (
        f"id: guardrail-bench-{run}\n"
        f"champion: {args.champion}\n"
        "challengers:\n"
        f"  - {{name: {label}, policy: {policy}, share: {args.share}}}\n"
        f"guardrails: {{check_seconds: {args.check_seconds}}}\n"
    )


def service_run(label: str, policy: str, args: argparse.Namespace, run: int) -> dict[str, Any]:
    """One run through a `tact serve` under an experiment file; the service rolls back."""
    scenario = load_scenario("nordic-telecom")
    arm_name = challenger_arm(label)
    seen: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tact-guardrails-") as tmp:
        path = Path(tmp) / "experiment.yaml"
        path.write_text(experiment_file(label, policy, args, run), encoding="utf-8")
        env = {"TACT_DATABASE_URL": f"sqlite:///{tmp}/tact.db", "TACT_EXPERIMENT_FILE": str(path)}
        with (
            tact_serve(env, Path(tmp) / "server.log") as server,
            grpc.insecure_channel(server.address) as channel,
        ):
            admin = admin_rpc.AdminServiceStub(channel)

            def watch(day: int, _: object) -> bool:
                status = admin.GetExperiment(admin_pb.GetExperimentRequest(), timeout=60)
                arm = next(a for a in status.arms if a.name == arm_name)
                seen.update(
                    day=day,
                    challenger_debtors=arm.debtors,
                    rolled_back=arm.rolled_back,
                    reason=arm.rollback_reason,
                )
                return not arm.rolled_back and (args.days is None or day + 1 < args.days)

            played = simulate_against(
                server.address,
                scenario,
                args.debtors,
                compliance_masks(),
                seed=args.seed + run,
                arrivals_per_day=args.arrivals_per_day,
                on_day=watch,
                run_id=f"guardrails-{run}",  # fixed case ids: a reproducible split
            )
    outcome = {
        "rolled_back": seen["rolled_back"],
        "day": seen["day"],
        "challenger_debtors": seen["challenger_debtors"],
        "decisions": played.decisions,
        "events_sent": played.events_sent,
        "blocked_in_simulator": played.blocked_in_simulator,
        "seconds": round(played.seconds, 1),
    }
    if seen["rolled_back"]:
        outcome["reason"] = seen["reason"]
        outcome["guardrail"] = seen["reason"].split(":")[0]  # "<guardrail>: <arm>: …"
    return outcome


def summarise(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    if "harmful" in results:
        h = results["harmful"]
        summary["harmful_rolled_back"] = sum(r["rolled_back"] for r in h)
        summary["harmful_rolled_back_before_2000"] = sum(
            r["rolled_back"] and r["challenger_debtors"] < 2000 for r in h
        )
        summary["harmful_debtors_at_rollback"] = [r.get("challenger_debtors") for r in h]
        summary["harmful_days_at_rollback"] = [r.get("day") for r in h]
        summary["harmful_guardrails"] = sorted({r.get("guardrail", "") for r in h})
    if "identical" in results:
        i = results["identical"]
        summary["identical_rolled_back"] = sum(r["rolled_back"] for r in i)
        summary["identical_challenger_debtors"] = [r.get("challenger_debtors") for r in i]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--first-run", type=int, default=0, help="resume: the first run index")
    parser.add_argument("--debtors", type=int, default=5000)
    parser.add_argument("--share", type=float, default=0.10)
    parser.add_argument("--arrivals-per-day", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1_000_000)
    parser.add_argument("--champion", default="segmented")
    parser.add_argument("--which", choices=("both", "harmful", "identical"), default="both")
    parser.add_argument(
        "--through-service", action="store_true", help="drive a real `tact serve` per run"
    )
    parser.add_argument("--check-seconds", type=float, default=1.0, help="service guardrail pass")
    parser.add_argument(
        "--days", type=int, default=None, help="through the service: stop after this many days"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    challengers = {"harmful": HARMFUL, "identical": args.champion}
    if args.which != "both":
        challengers = {args.which: challengers[args.which]}
    one_run = service_run if args.through_service else in_process_run
    results: dict[str, list[dict[str, Any]]] = {}
    started = time.perf_counter()
    for label, policy in challengers.items():
        results[label] = []
        for run in range(args.first_run, args.first_run + args.runs):
            outcome = one_run(label, policy, args, run)
            results[label].append(outcome)
            print(label, run, json.dumps(outcome), flush=True)
    summary: dict[str, Any] = {"settings": vars(args) | {"json": str(args.json)}}
    summary |= summarise(results)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary, indent=2))
    summary["runs"] = results
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
