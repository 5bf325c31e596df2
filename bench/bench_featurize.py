"""Benchmark: one case's observation, ``featurize_row`` against the one-row batch path.

    .venv/bin/python bench/bench_featurize.py [--rounds 2000] [--json FILE]

Both paths start from the ``CaseState`` the service builds for each of the 10
examples/cases (history summarised in the debtor's local calendar at a fixed instant):

* row — ``featurize_row(case_row(state))``, the single-case path;
* batch — ``featurize(CaseBatch.from_states([state]))``, the vectorised path on a batch
  of one (what a decision paid before ``featurize_row``);

and, to show where the time goes, their parts: ``case_row``, ``featurize_row`` on a
ready row, ``CaseBatch.from_states`` and ``featurize`` on a ready batch. Every round
calls each of them once per example case, interleaved call by call, so that the noise of
a shared machine hits all alike: compare the ratios of one run, not figures across runs.
The two paths' outputs are checked equal (bit for bit) before timing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import numpy as np
from google.protobuf import json_format

from engine.compliance import country_zones
from engine.convert import case_from_proto
from engine.features import featurize, featurize_row
from engine.history import summarise_history
from engine.state import CaseBatch, CaseState, case_row
from tact.v1 import case_pb2

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples" / "cases").glob("*.json"))
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # the service tests' instant
TARGET_US = 30.0


def load_state(path: Path, now: datetime) -> CaseState:
    """An example case as the service builds it: history in the debtor's local calendar."""
    case = json_format.Parse(path.read_text(), case_pb2.Case())
    snapshot, events = case_from_proto(case)
    zone = ZoneInfo(snapshot.timezone or country_zones(snapshot.country)[0])
    today = now.astimezone(zone).date()
    history = summarise_history(events, as_of=today, tz=zone)
    return CaseState(snapshot=snapshot, history=history, as_of=now, local_date=today)


def run(rounds: int) -> dict[str, object]:
    states = [load_state(p, NOW) for p in EXAMPLES]
    rows = [case_row(s) for s in states]
    batches = [CaseBatch.from_states([s]) for s in states]
    for state in states:
        row_obs = featurize_row(case_row(state))
        batch_obs = featurize(CaseBatch.from_states([state]))[0]
        assert row_obs.tobytes() == batch_obs.tobytes(), state.snapshot.case_id
    # (name, call on case i); the first two are the comparison, the rest their parts.
    candidates: list[tuple[str, Callable[[int], object]]] = [
        ("featurize_row(case_row(state))", lambda i: featurize_row(case_row(states[i]))),
        (
            "featurize(CaseBatch.from_states([state]))",
            lambda i: featurize(CaseBatch.from_states([states[i]])),
        ),
        ("  case_row(state)", lambda i: case_row(states[i])),
        ("  featurize_row(row)", lambda i: featurize_row(rows[i])),
        ("  CaseBatch.from_states([state])", lambda i: CaseBatch.from_states([states[i]])),
        ("  featurize(batch)", lambda i: featurize(batches[i])),
    ]
    samples: dict[str, list[int]] = {name: [] for name, _ in candidates}
    for _ in range(min(200, rounds)):  # warm-up: caches, lazy imports, branch predictors
        for i in range(len(states)):
            for _, call in candidates:
                call(i)
    gc.collect()
    gc.freeze()  # as the service does after start-up: no gen-2 pauses over set-up objects
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for i in range(len(states)):
            for name, call in candidates:
                start = clock()
                call(i)
                samples[name].append(clock() - start)
    gc.unfreeze()
    figures = {
        name: {
            "p50_us": float(np.percentile(ns, 50)) / 1e3,
            "p99_us": float(np.percentile(ns, 99)) / 1e3,
        }
        for name, ns in samples.items()
    }
    row, batch = (figures[name] for name, _ in candidates[:2])
    return {
        "cases": len(states),
        "calls_per_path": rounds * len(states),
        "figures": figures,
        "ratio_p50": batch["p50_us"] / row["p50_us"],
        "ratio_p99": batch["p99_us"] / row["p99_us"],
        "load": os.getloadavg()[0],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="calls per path per case")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    result = run(args.rounds)
    figures = result["figures"]
    assert isinstance(figures, dict)
    print(f"{result['calls_per_path']} calls per path over {result['cases']} example cases")
    print(f"{'':44s} {'p50 µs':>8s} {'p99 µs':>8s}")
    for name, f in figures.items():
        print(f"{name:44s} {f['p50_us']:8.1f} {f['p99_us']:8.1f}")
    print(
        f"batch / row: p50 ×{result['ratio_p50']:.1f}, p99 ×{result['ratio_p99']:.1f}"
        f" (target for the row path: {TARGET_US:.0f} µs)"
    )
    print(f"load average {result['load']:.1f}; {result['machine']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
