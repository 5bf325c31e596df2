"""What serialising reservations per case costs: throughput for DISTINCT cases, on vs off.

Every decision that reserves a contact is stored in a transaction that locks its case
(PostgreSQL: an advisory lock; SQLite: the write transaction), re-reads the case's ledger
and compares it with what the decision read (``engine/reservations.py``). For distinct
cases the lock is never contended and the re-check never re-evaluates, so the cost is the
lock statement and the second read. Measured as the ratio of throughputs with the
serialisation on and off (``Reservations.serialise``, the test-only switch), in the same
run, against the same in-process server, alternating on/off in every round (ABBA), for
concurrent unary ``Decide`` (closed loop, client threads on their own connections) and one
``DecideStream``; SQLite, and PostgreSQL when it answers (127.0.0.1:5432, database
``test``, a fresh schema; ``TACT_TEST_POSTGRES_URL`` names another). A second, quieter
measure runs in process, without gRPC: ``decide_many`` + ``persist`` of groups of one case
(a lone ``Decide``) and of 128 cases (a stream batch), on and off alternating per group.

    .venv/bin/python bench/bench_reservations.py [--decisions 1000] [--rounds 3]
        [--threads 8] [--policy default] [--no-postgres] [--json FILE]

The client runs in a separate process (as a core collection system would).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402, F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import grpc  # noqa: E402
from bench_service import DECIDE_METHOD, _closed_loop, _requests  # noqa: E402

STREAM_METHOD = "/tact.v1.DecisionService/DecideStream"


# ---- client process ---------------------------------------------------------------------
def _unary_rate(target: str, n: int, threads: int) -> float:
    return _closed_loop(target, DECIDE_METHOD, _requests(n), threads)


def _stream_rate(target: str, n: int) -> float:
    identity = lambda b: b  # noqa: E731 - raw bytes in and out
    payloads = _requests(n)
    with grpc.insecure_channel(target) as channel:
        call = channel.stream_stream(
            STREAM_METHOD, request_serializer=identity, response_deserializer=identity
        )
        list(call(iter(payloads[:10]), timeout=60))  # connect and warm up
        t0 = time.perf_counter()
        got = sum(1 for _ in call(iter(payloads), timeout=120))
        elapsed = time.perf_counter() - t0
    assert got == n, f"stream delivered {got} of {n}"
    return n / elapsed


# ---- server process ---------------------------------------------------------------------
@contextmanager
def _ledger_urls(with_postgres: bool) -> Iterator[list[tuple[str, str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        urls = [("SQLite", f"sqlite:///{tmp}/bench.db")]
        if not with_postgres:
            yield urls
            return
        sys.path.insert(0, str(REPO))
        from tests.support.databases import fresh_postgres_schema, postgres_unreachable_reason

        reason = postgres_unreachable_reason()
        if reason is not None:
            print(f"PostgreSQL skipped: {reason}")
            yield urls
            return
        with fresh_postgres_schema("tact_bench") as pg_url:
            yield [*urls, ("PostgreSQL", pg_url)]


def _in_process_rates(running: Any, rounds: int) -> dict[str, Any]:
    """Decisions per second of ``decide_many`` + ``persist`` (no transport), per group
    size, serialised vs not, alternating group by group (ABBA): from the median wall time
    and the median CPU time of this thread per group (CPU time is what a loaded, shared
    machine disturbs least; the database server's own work is only in the wall time)."""
    from engine.convert import decide_request_from_proto
    from tact.v1 import decision_service_pb2

    pipeline = running.components.pipeline
    result: dict[str, Any] = {}
    for size, groups in ((1, 200 * rounds), (128, 10 * rounds)):
        wall: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for k in range(2 * groups):
            serialise = (k % 4) in (0, 3)
            cases = [
                decide_request_from_proto(decision_service_pb2.DecideRequest.FromString(r))
                for r in _requests(size)
            ]
            pipeline.reservations.serialise = serialise
            t0, c0 = time.perf_counter(), time.thread_time()
            outcomes = pipeline.decide_many(cases)
            pipeline.persist([(o, "0" * 64) for o in outcomes if not isinstance(o, Exception)])
            wall[serialise].append((time.perf_counter() - t0) / size)
            cpu[serialise].append((time.thread_time() - c0) / size)
        on, off = 1 / statistics.median(wall[True]), 1 / statistics.median(wall[False])
        on_cpu, off_cpu = 1 / statistics.median(cpu[True]), 1 / statistics.median(cpu[False])
        result[f"in-process, groups of {size}"] = {
            "on_per_s": round(on),
            "off_per_s": round(off),
            "ratio_on_off": round(on / off, 3),
            "cpu_on_per_s": round(on_cpu),
            "cpu_off_per_s": round(off_cpu),
            "cpu_ratio_on_off": round(on_cpu / off_cpu, 3),
        }
    pipeline.reservations.serialise = True
    return result


def _bench_backend(
    url: str, client: ProcessPoolExecutor, args: argparse.Namespace
) -> dict[str, Any]:
    from engine.service import create_server
    from engine.settings import Settings

    settings = Settings(
        port=0, database_url=url, policy=args.policy, rules_watch=False, log_level="WARNING"
    )
    running = create_server(settings)
    reservations = running.components.pipeline.reservations
    target = f"127.0.0.1:{running.port}"
    gc.collect()
    gc.freeze()
    rates: dict[str, dict[bool, list[float]]] = {"unary": {True: [], False: []}}
    rates["stream"] = {True: [], False: []}
    try:
        in_process = _in_process_rates(running, args.rounds)
        client.submit(_unary_rate, target, 200, args.threads).result()  # warm up
        for round_ in range(args.rounds):
            order = [True, False] if round_ % 2 == 0 else [False, True]
            for serialise in [*order, *reversed(order)]:
                reservations.serialise = serialise
                unary = client.submit(_unary_rate, target, args.decisions, args.threads)
                rates["unary"][serialise].append(unary.result())
                stream = client.submit(_stream_rate, target, args.decisions)
                rates["stream"][serialise].append(stream.result())
    finally:
        reservations.serialise = True
        running.stop(0)
    result: dict[str, Any] = {}
    for mode, by in rates.items():
        on, off = statistics.median(by[True]), statistics.median(by[False])
        result[mode] = {
            "on_per_s": round(on),
            "off_per_s": round(off),
            "ratio_on_off": round(on / off, 3),
            "on_runs": [round(r) for r in by[True]],
            "off_runs": [round(r) for r in by[False]],
        }
    return {**result, **in_process}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="ABBA rounds (each: on, off ×2)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--policy", default="default", help="TACT_POLICY to serve")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    context = mp.get_context("spawn")
    with (
        ProcessPoolExecutor(1, mp_context=context) as client,
        _ledger_urls(not args.no_postgres) as urls,
    ):
        for name, url in urls:
            report[name] = _bench_backend(url, client, args)
            for mode, figures in report[name].items():
                runs = (
                    f"  (on {figures['on_runs']}, off {figures['off_runs']})"
                    if "on_runs" in figures
                    else f"  (CPU time: {figures['cpu_on_per_s']}/s vs "
                    f"{figures['cpu_off_per_s']}/s, ratio {figures['cpu_ratio_on_off']:.3f})"
                )
                print(
                    f"{name:10s} {mode:28s} serialised {figures['on_per_s']:6d}/s  "
                    f"unserialised {figures['off_per_s']:6d}/s  "
                    f"ratio {figures['ratio_on_off']:.3f}{runs}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
