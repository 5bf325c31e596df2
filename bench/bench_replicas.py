"""Throughput of one vs two `tact serve` replicas on one PostgreSQL, as a ratio two/one.

Two replicas (separate ``tact serve`` processes, ``TACT_PROCESSES=1`` each) serve one
fresh PostgreSQL schema (127.0.0.1:5432, database ``test``; ``TACT_TEST_POSTGRES_URL``
names another), both started once. A client process measures, alternating in every round
(ABBA): *one replica* — its channels list the first replica only — and *two replicas* —
its channels list both addresses with gRPC's ``round_robin`` policy, the topology of
``deploy/`` and of ``tests/engine/test_replicas.py``. The idle second replica of a
one-replica run costs (nearly) nothing, so both measures run against the same processes
and the same database. Every decision is for a distinct case (no lock waits on a case).

* unary: ``--threads`` closed-loop ``Decide`` clients, each on its own channel;
* streams: ``--streams`` concurrent ``DecideStream`` calls on one round-robin channel
  (a stream is one call, so it stays on the replica it was given; several are needed for
  two replicas to share the work).

    .venv/bin/python bench/bench_replicas.py [--decisions 600] [--rounds 3]
        [--threads 8] [--streams 2] [--policy default] [--json FILE]

Two replicas can only add throughput where there are cores to run them: on a machine with
2 shared vCPUs (where PostgreSQL and the client also run) the ratio says more about the
CPU than about tact.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402, F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import grpc  # noqa: E402
from bench_service import DECIDE_METHOD, _closed_loop, _requests  # noqa: E402

STREAM_METHOD = "/tact.v1.DecisionService/DecideStream"
ROUND_ROBIN = (("grpc.lb_policy_name", "round_robin"),)


def _target(addresses: list[str]) -> str:
    return "ipv4:" + ",".join(addresses)


# ---- client process ---------------------------------------------------------------------
def _unary_rate(addresses: list[str], n: int, threads: int) -> float:
    return _closed_loop(_target(addresses), DECIDE_METHOD, _requests(n), threads, ROUND_ROBIN)


def _streams_rate(addresses: list[str], n: int, streams: int) -> float:
    """Decisions per second of ``streams`` concurrent ``DecideStream`` calls of ``n //
    streams`` distinct cases each, on one round-robin channel."""
    identity = lambda b: b  # noqa: E731 - raw bytes in and out
    per_stream = n // streams
    payloads = _requests(per_stream * streams)
    with grpc.insecure_channel(_target(addresses), options=list(ROUND_ROBIN)) as channel:
        call = channel.stream_stream(
            STREAM_METHOD, request_serializer=identity, response_deserializer=identity
        )
        for _ in range(2 * len(addresses)):  # connect to every replica and warm up
            list(call(iter(_requests(5)), timeout=60))
        counts = [0] * streams

        def stream(k: int) -> None:
            chunk = payloads[k * per_stream : (k + 1) * per_stream]
            counts[k] = sum(1 for _ in call(iter(chunk), timeout=120))

        threads = [threading.Thread(target=stream, args=(k,)) for k in range(streams)]
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
    assert sum(counts) == per_stream * streams, f"streams delivered {counts}"
    return sum(counts) / elapsed


# ---- servers ----------------------------------------------------------------------------
def _measure(
    addresses: list[str], client: ProcessPoolExecutor, args: argparse.Namespace
) -> dict[str, Any]:
    sets = {1: addresses[:1], 2: addresses}
    rates: dict[str, dict[int, list[float]]] = {"unary": {1: [], 2: []}, "streams": {1: [], 2: []}}
    for replicas in (1, 2):  # warm up both replicas and both client paths
        client.submit(_unary_rate, sets[replicas], 100, args.threads).result()
    for round_ in range(args.rounds):
        order = [1, 2] if round_ % 2 == 0 else [2, 1]
        for replicas in [*order, *reversed(order)]:
            unary = client.submit(_unary_rate, sets[replicas], args.decisions, args.threads)
            rates["unary"][replicas].append(unary.result())
            streams = client.submit(_streams_rate, sets[replicas], args.decisions, args.streams)
            rates["streams"][replicas].append(streams.result())
    result: dict[str, Any] = {}
    for mode, by in rates.items():
        one, two = statistics.median(by[1]), statistics.median(by[2])
        result[mode] = {
            "one_per_s": round(one),
            "two_per_s": round(two),
            "ratio_two_one": round(two / one, 3),
            "one_runs": [round(r) for r in by[1]],
            "two_runs": [round(r) for r in by[2]],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=600, help="decisions per measure")
    parser.add_argument("--rounds", type=int, default=3, help="ABBA rounds (each: 1, 2 ×2)")
    parser.add_argument("--threads", type=int, default=8, help="unary client threads")
    parser.add_argument("--streams", type=int, default=2, help="concurrent DecideStreams")
    parser.add_argument("--policy", default="default", help="TACT_POLICY to serve")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.streams < 1 or args.decisions < args.streams:
        parser.error("--streams must be >= 1 and at most --decisions")

    from tests.support.databases import fresh_postgres_schema, postgres_unreachable_reason
    from tests.support.processes import kill, start_serve, wait_serving

    reason = postgres_unreachable_reason()
    if reason is not None:
        sys.exit(f"bench_replicas needs PostgreSQL: {reason}")
    context = mp.get_context("spawn")
    with (
        ProcessPoolExecutor(1, mp_context=context) as client,
        fresh_postgres_schema("tact_bench") as url,
    ):
        env = {
            "TACT_DATABASE_URL": url,
            "TACT_PROCESSES": "1",
            "TACT_POLICY": args.policy,
            "TACT_RULES_WATCH": "false",
            "TACT_LOG_LEVEL": "WARNING",
        }
        served = []
        try:
            for _ in range(2):
                served.append(start_serve(env))
            for address, proc in served:
                wait_serving(address, proc)
            report = _measure([address for address, _ in served], client, args)
        finally:
            for _, proc in served:
                kill(proc)
    for mode, f in report.items():
        print(
            f"PostgreSQL {mode:8s} one replica {f['one_per_s']:5d}/s  two replicas "
            f"{f['two_per_s']:5d}/s  ratio two/one {f['ratio_two_one']:.3f}  "
            f"(one {f['one_runs']}, two {f['two_runs']})",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
