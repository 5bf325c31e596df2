"""Decision service benchmark: in-process decide, unary Decide, concurrency, DecideStream.

Every figure is reported with a reference measured in the same run on the same machine
(these machines are shared and noisy): an *empty unary gRPC call* served by a reference
server in the same process as tact's server, called from the same client process.

    .venv/bin/python bench/bench_service.py [--decisions 2000] [--policy default] [--json out.json]

The policy is the one `make serve` serves (``default``: the champion, ``best-simple``) unless
``--policy`` names another (e.g. ``ladder``).

The client runs in a separate process (as a core collection system would).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent import futures
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402, F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import grpc  # noqa: E402
import numpy as np  # noqa: E402

EMPTY_METHOD = "/bench.Empty/Call"
DECIDE_METHOD = "/tact.v1.DecisionService/Decide"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _example_cases() -> list[Any]:
    from google.protobuf import json_format

    from tact.v1 import case_pb2

    return [
        json_format.Parse(p.read_text(), case_pb2.Case())
        for p in sorted((REPO / "examples" / "cases").glob("*.json"))
    ]


def _requests(n: int) -> list[bytes]:
    """Serialized DecideRequests over the example cases, each with a fresh case id."""
    from engine.convert import datetime_to_timestamp
    from tact.v1 import decision_service_pb2

    cases = _example_cases()
    out = []
    for i in range(n):
        case = type(cases[0])()
        case.CopyFrom(cases[i % len(cases)])
        case.case_id = f"{case.case_id}-{uuid.uuid4().hex[:10]}"
        for event in case.recent_events:  # event ids are unique per case: kept as they are
            event.case_id = case.case_id
        out.append(
            decision_service_pb2.DecideRequest(
                case=case, now=datetime_to_timestamp(NOW)
            ).SerializeToString()
        )
    return out


def _percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1e6
    return {
        "p50_us": float(np.percentile(arr, 50)),
        "p99_us": float(np.percentile(arr, 99)),
        "mean_us": float(arr.mean()),
    }


# ---- client process ---------------------------------------------------------------------
def _closed_loop(
    target: str,
    method: str,
    payloads: list[bytes],
    threads: int,
    channel_options: tuple[tuple[str, Any], ...] = (),
) -> float:
    """Calls per second of ``threads`` closed-loop clients, each on its own connection
    (so that several server processes sharing the port each get their share);
    ``channel_options`` are added to every client's channel options."""
    identity = lambda b: b  # noqa: E731 - raw bytes in and out
    jobs = iter(payloads)
    lock = threading.Lock()

    def worker() -> int:
        options = [("grpc.use_local_subchannel_pool", 1), *channel_options]
        with grpc.insecure_channel(target, options=options) as channel:
            call = channel.unary_unary(
                method, request_serializer=identity, response_deserializer=identity
            )
            call(payloads[0], timeout=30)  # connect before the clock starts
            barrier.wait()
            done = 0
            while True:
                with lock:
                    payload = next(jobs, None)
                if payload is None:
                    return done
                call(payload, timeout=30)
                done += 1

    barrier = threading.Barrier(threads + 1)
    with futures.ThreadPoolExecutor(threads) as pool:
        results = [pool.submit(worker) for _ in range(threads)]
        barrier.wait()
        t0 = time.perf_counter()
        total = sum(r.result() for r in results)
    return total / (time.perf_counter() - t0)


def _multi_process_rate(processes: int, n: int, threads: int, policy: str) -> float:
    """Concurrent Decide against `tact serve` with TACT_PROCESSES=processes (SO_REUSEPORT)."""
    import os
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "TACT_PORT": str(port),
            "TACT_PROCESSES": str(processes),
            "TACT_DATABASE_URL": f"sqlite:///{tmp}/multi.db",
            "TACT_POLICY": policy,
            "TACT_RULES_WATCH": "false",
            "TACT_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
            env=env,
            cwd=REPO,
        )
        try:
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            deadline = time.monotonic() + 120
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                while True:
                    try:
                        health_pb2_grpc.HealthStub(ch).Check(
                            health_pb2.HealthCheckRequest(), timeout=1
                        )
                        break
                    except grpc.RpcError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)
            time.sleep(3)  # let every process finish starting
            payloads = _requests(n)
            return _closed_loop(f"127.0.0.1:{port}", DECIDE_METHOD, payloads, threads)
        finally:
            server.terminate()
            server.wait(30)


def _pin_process(cpus: set[int]) -> None:
    """Run every thread of this process (and those it starts later) on ``cpus``."""
    import os

    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that just ended
            os.sched_setaffinity(int(tid), cpus)


def _unary(empty: Any, decide: Any, requests: list[bytes]) -> dict[str, Any]:
    """Reference and measured calls interleaved, so both see the same machine load."""
    empty_t, decide_t = [], []
    for request in requests:
        t0 = time.perf_counter()
        empty(b"", timeout=5)
        t1 = time.perf_counter()
        decide(request, timeout=5)
        t2 = time.perf_counter()
        empty_t.append(t1 - t0)
        decide_t.append(t2 - t1)
    return {"empty": _percentiles(empty_t), "decide": _percentiles(decide_t)}


def _client(
    target: str,
    empty_target: str,
    n: int,
    threads: int,
    policy: str,
    pin: int | None,
    queue: Any,
    go: Any,
) -> None:
    from tact.v1 import decision_service_pb2

    identity = lambda b: b  # noqa: E731 - raw bytes in and out
    pinned = pin is not None
    if pin is not None:
        _pin_process({pin})
    with grpc.insecure_channel(target) as ch, grpc.insecure_channel(empty_target) as ref:
        empty = ref.unary_unary(
            EMPTY_METHOD, request_serializer=identity, response_deserializer=identity
        )
        decide = ch.unary_unary(
            "/tact.v1.DecisionService/Decide",
            request_serializer=identity,
            response_deserializer=identity,
        )
        stream = ch.stream_stream(
            "/tact.v1.DecisionService/DecideStream",
            request_serializer=identity,
            response_deserializer=identity,
        )
        requests = _requests(n * 4)
        for i in range(50):  # warm-up both paths
            empty(b"", timeout=5)
            decide(requests[i], timeout=5)
        # Latency: client and server on cores of their own first (as when they run on
        # different machines), then sharing both cores as the OS schedules them.
        unary = _unary(empty, decide, requests[50 : 50 + n])
        if pinned:
            queue.put("unpin")  # the server process unpins itself, then answers
            go.get(timeout=60)
            _pin_process(set(range(os.cpu_count() or 1)))
            for i in range(50):
                empty(b"", timeout=5)
                decide(requests[i], timeout=5)
            unary_shared = _unary(empty, decide, requests[3 * n : 4 * n])
        else:
            unary_shared = unary

        pool_requests = requests[n : 2 * n]
        concurrent_rate = _closed_loop(target, DECIDE_METHOD, pool_requests, threads)
        empty_rate = _closed_loop(empty_target, EMPTY_METHOD, [b""] * len(pool_requests), threads)

        # DecideStream: three streams of n cases each, one after the other (one stream's
        # rate swings by a third on this machine; the median is what is reported).
        stream_rates = []
        more = _requests(2 * n)
        for stream_requests in (requests[2 * n : 3 * n], more[:n], more[n:]):
            t0 = time.perf_counter()
            got = sum(1 for _ in stream(iter(stream_requests), timeout=120))
            stream_rates.append(got / (time.perf_counter() - t0))
            assert got == len(stream_requests)
        decision = decision_service_pb2.Decision.FromString(decide(requests[0], timeout=5))
        assert decision.decision_id
    queue.put(
        {
            "unary": unary,
            "unary_pinned": pinned,
            "unary_shared_cores": unary_shared,
            "concurrent_decisions_per_s": concurrent_rate,
            "concurrent_empty_calls_per_s": empty_rate,
            "concurrent_decisions_per_s_2_processes": _multi_process_rate(2, n, threads, policy),
            "client_threads": threads,
            "stream_decisions_per_s": sorted(stream_rates)[1],
            "stream_decisions_per_s_runs": stream_rates,
        }
    )


# ---- server side --------------------------------------------------------------------------
def _reference_server() -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handler = grpc.method_handlers_generic_handler(
        "bench.Empty", {"Call": grpc.unary_unary_rpc_method_handler(lambda req, ctx: b"")}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _in_process(components: Any, n: int) -> dict[str, Any]:
    """decide() straight on the pipeline: facts + rules + policy + SQLite ledger write."""
    from engine.convert import case_from_proto
    from tact.v1 import decision_service_pb2

    parsed = [
        case_from_proto(decision_service_pb2.DecideRequest.FromString(r).case)
        for r in _requests(n + 50)
    ]
    pipeline = components.pipeline
    for snapshot, events in parsed[:50]:
        pipeline.decide(snapshot, events, now=NOW)
    times = []
    for snapshot, events in parsed[50:]:
        t0 = time.perf_counter()
        pipeline.decide(snapshot, events, now=NOW)
        times.append(time.perf_counter() - t0)
    return _percentiles(times)


def _sections(running: Any, n: int) -> dict[str, dict[str, float]]:
    """Where one unary decision goes: each step of the servicer's path timed on its own,
    case by case (no transport)."""
    from datetime import timedelta

    from engine.compliance import ComplianceEngine
    from engine.convert import case_from_proto
    from engine.features import featurize_row
    from engine.history import summarise_history
    from engine.service import decision_to_proto
    from engine.state import CaseState, case_row
    from tact.v1 import decision_service_pb2

    pipeline = running.components.pipeline
    servicer = running.decisions
    requests = _requests(n)
    steps: dict[str, list[float]] = {
        "parse request": [],
        "validate (proto → domain)": [],
        "ledger read": [],
        "history fold": [],
        "case row": [],
        "compliance verdict": [],
        "featurize": [],
        "policy": [],
        "decide_many (all of the above but parse/validate)": [],
        "inputs digest": [],
        "commit decision + reservation": [],
        "render Decision": [],
        "serialize Decision": [],
    }
    # The same rules without the memo of durable_rules answers: what a verdict costs for a
    # fact set not seen before (the examples repeat a few fact sets; real portfolios more).
    unmemoized = ComplianceEngine(pipeline.rules.current.compiled)
    unmemoized.fired_memo_size = 0
    memo_off: list[float] = []
    clock = time.perf_counter
    for raw in requests:
        t0 = clock()
        request = decision_service_pb2.DecideRequest.FromString(raw)
        t1 = clock()
        snapshot, events = case_from_proto(request.case)
        t2 = clock()
        stored = pipeline.ledger.events_for_case(snapshot.case_id, since=NOW - timedelta(3650))
        t3 = clock()
        zone = pipeline._reference_zone(snapshot)
        today = NOW.astimezone(zone).date()
        history = summarise_history([*stored, *events], as_of=today, tz=zone)
        state = CaseState(snapshot=snapshot, history=history, as_of=NOW, local_date=today)
        t4 = clock()
        row = case_row(state)
        t5 = clock()
        verdict = pipeline.rules.current.evaluate(state, row)
        t6 = clock()
        observation = featurize_row(row)[None, :]
        t7 = clock()
        pipeline.champion.policy.act(observation, verdict.mask[None])
        t8 = clock()
        [outcome] = pipeline.decide_many([(snapshot, events, NOW)])
        t9 = clock()
        digest = servicer._digest(request, NOW)
        t10 = clock()
        pipeline.persist([(outcome, digest)])
        t11 = clock()
        decision = decision_to_proto(outcome)
        t12 = clock()
        decision.SerializeToString()
        t13 = clock()
        marks = (t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13)
        spans = [b - a for a, b in itertools.pairwise(marks)]
        for name, spent in zip(steps, spans, strict=True):
            steps[name].append(spent)
        t0 = clock()
        unmemoized.evaluate(state, row)
        memo_off.append(clock() - t0)
    steps["compliance verdict, memo off (durable_rules every time)"] = memo_off
    return {name: _percentiles(spent) for name, spent in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--policy", default="default", help="TACT_POLICY to serve")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not also measure unary calls with server and client on a core each",
    )
    args = parser.parse_args()

    from engine.service import create_server
    from engine.settings import Settings

    cpus = sorted(os.sched_getaffinity(0))
    pin = (cpus[0], cpus[1]) if args.pin and len(cpus) >= 2 else None
    if pin is not None:  # before the servers start: their threads inherit it
        _pin_process({pin[0]})
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            port=0,
            database_url=f"sqlite:///{tmp}/bench.db",
            rules_watch=False,
            policy=args.policy,
        )
        running = create_server(settings)
        reference, ref_port = _reference_server()
        gc.collect()
        gc.freeze()  # as `tact serve` does after start-up
        try:
            in_process = _in_process(running.components, args.decisions)
            sections = _sections(running, min(args.decisions, 500))
            engine_ = running.components.rules.current
            verdicts, posts = engine_.verdicts, engine_.durable_posts
            spawn = mp.get_context("spawn")
            queue: Any = spawn.Queue()
            go: Any = spawn.Queue()
            client = spawn.Process(
                target=_client,
                args=(
                    f"127.0.0.1:{running.port}",
                    f"127.0.0.1:{ref_port}",
                    args.decisions,
                    args.threads,
                    args.policy,
                    None if pin is None else pin[1],
                    queue,
                    go,
                ),
            )
            client.start()
            remote = queue.get(timeout=600)
            if remote == "unpin":
                _pin_process(set(cpus))
                go.put("go")
                remote = queue.get(timeout=600)
            client.join()
            served_verdicts = engine_.verdicts - verdicts
            served_posts = engine_.durable_posts - posts
        finally:
            reference.stop(0)
            running.stop(0)

    empty = remote["unary"]["empty"]
    result = {
        "in_process_decide": in_process,
        "in_process_sections": sections,
        "in_process_p99_vs_empty_call_p50": in_process["p99_us"] / empty["p50_us"],
        **remote,
        "unary_decide_p50_vs_empty_p50": remote["unary"]["decide"]["p50_us"] / empty["p50_us"],
        "unary_shared_cores_p50_ratio": remote["unary_shared_cores"]["decide"]["p50_us"]
        / remote["unary_shared_cores"]["empty"]["p50_us"],
        "served_rule_verdicts": served_verdicts,
        "served_durable_posts": served_posts,
        "decisions": args.decisions,
        "policy": args.policy,
    }
    print(json.dumps(result, indent=2))
    decide_t = remote["unary"]["decide"]
    conc, conc_ref = remote["concurrent_decisions_per_s"], remote["concurrent_empty_calls_per_s"]
    conc2 = remote["concurrent_decisions_per_s_2_processes"]
    ratio_ip = result["in_process_p99_vs_empty_call_p50"]
    ratio_unary = result["unary_decide_p50_vs_empty_p50"]
    ref = f"empty unary call p50 {empty['p50_us']:.0f} µs"
    shared = remote["unary_shared_cores"]
    where = "server and client on a core each" if remote["unary_pinned"] else "cores shared"
    lines = [
        "| measure | value | reference (same run) | ratio |",
        "|---|---|---|---|",
        f"| in-process decide p50 / p99 | {in_process['p50_us']:.0f} / "
        f"{in_process['p99_us']:.0f} µs | {ref} | p99 = {ratio_ip:.2f}× |",
        f"| unary Decide p50 / p99 (client process; {where}) | {decide_t['p50_us']:.0f} / "
        f"{decide_t['p99_us']:.0f} µs | {ref} | p50 = {ratio_unary:.2f}× |",
        f"| unary Decide p50 / p99 (cores shared) | {shared['decide']['p50_us']:.0f} / "
        f"{shared['decide']['p99_us']:.0f} µs | empty unary call p50 "
        f"{shared['empty']['p50_us']:.0f} µs "
        f"| p50 = {result['unary_shared_cores_p50_ratio']:.2f}× |",
        f"| concurrent Decide ({args.threads} client threads) | {conc:.0f} /s "
        f"| empty calls {conc_ref:.0f} /s | {conc / conc_ref:.2f}× |",
        f"| concurrent Decide, `TACT_PROCESSES=2` | {conc2:.0f} /s "
        f"| empty calls {conc_ref:.0f} /s | {conc2 / conc_ref:.2f}× |",
        f"| DecideStream, median of 3 streams of {args.decisions} | "
        f"{remote['stream_decisions_per_s']:.0f} /s "
        f"({', '.join(f'{r:.0f}' for r in remote['stream_decisions_per_s_runs'])}) | — | — |",
        f"| rule verdicts answered by the memo (served calls) | "
        f"{1 - served_posts / max(served_verdicts, 1):.1%} of {served_verdicts} | — | — |",
    ]
    lines += ["", "| in-process step | p50 µs | p99 µs |", "|---|---:|---:|"]
    lines += [f"| {name} | {v['p50_us']:.0f} | {v['p99_us']:.0f} |" for name, v in sections.items()]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
