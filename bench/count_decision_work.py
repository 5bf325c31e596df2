"""What one served decision does, counted instead of timed (timings on a shared 2-core host
swing by a third; counts do not): SQL statements by kind, Python calls by server thread,
and optionally CPU instructions under callgrind.

A real server (port 0, SQLite in a temp dir, the shipped rules, ``--policy``, no
experiment, no auth, logging as the library leaves it unless ``--access-log``) is called
from a client process: ``--decisions`` unary ``Decide`` calls one after the other, one
``DecideStream`` of as many cases (pipelined: batch sizes depend on timing), and as many
``Decide`` calls from 8 client threads; each phase after a warm-up, counted apart and
divided by its decisions.

    .venv/bin/python bench/count_decision_work.py [--decisions 200] [--policy rl:default]
        [--repo PATH] [--access-log] [--json FILE]

``--repo`` counts another checkout with this venv (a worktree of an older commit: the
script is not in it). Instructions: run the same under callgrind with instrumentation off
and ``--callgrind``; each phase is instrumented alone and dumped as its own part::

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.%p \\
        .venv/bin/python bench/count_decision_work.py --callgrind
    callgrind_annotate cg.<pid>.1 | grep 'PROGRAM TOTALS'   # .1 unary, .2 stream, .3 concurrent

The counting hooks (a sqlite3 trace callback, a profile function on the server's threads)
cost far more than what they count: never time a run that counts.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

PHASES = ("unary Decide", "DecideStream item", "concurrent Decide, 8 clients")
SKIPPED_THREADS = ("MainThread", "tact-health", "tact-ledger-wal", "tact-rules", "QueueFeeder")
"""Threads of the server process that are not the decisions' (periodic or the harness)."""
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
DECIDE, STREAM = "/tact.v1.DecisionService/Decide", "/tact.v1.DecisionService/DecideStream"


class Counts:
    """Statements and Python calls seen while ``on``, from the server's threads."""

    def __init__(self) -> None:
        self.on = False
        self.statements: list[str] = []
        self.calls: collections.Counter[str] = collections.Counter()

    def statement(self, sql: str) -> None:
        if self.on and not threading.current_thread().name.startswith(SKIPPED_THREADS):
            self.statements.append(_kind(sql))

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if self.on and event in ("call", "c_call"):
            name = threading.current_thread().name
            if not name.startswith(SKIPPED_THREADS):
                self.calls[_thread_group(name)] += 1

    def per_decision(self, n: int) -> dict[str, Any]:
        kinds = collections.Counter(self.statements)
        return {
            "sql_statements": len(self.statements) / n,
            "sql_by_kind": {k: v / n for k, v in sorted(kinds.items())},
            "python_calls": sum(self.calls.values()) / n,
            "python_calls_by_thread": {k: v / n for k, v in self.calls.most_common()},
        }


def _kind(sql: str) -> str:
    """``INSERT INTO t``, ``SELECT … FROM t``, ``BEGIN IMMEDIATE``, ``COMMIT``, …"""
    words = sql.split()
    head = words[0].upper()
    if head == "INSERT":
        return " ".join(words[:3])
    if head == "SELECT" and "FROM" in words:
        return f"SELECT … FROM {words[words.index('FROM') + 1]}"
    return " ".join(words[:2]) if head in ("BEGIN", "PRAGMA") else head


def _thread_group(name: str) -> str:
    """``tact-rpc_3`` → ``tact-rpc``; gRPC's serving thread (``Thread-1 (_serve)``) by role."""
    if name.endswith("(_serve)"):
        return "grpc-serve"
    return name.rstrip("0123456789_-")


def _requests(repo: Path, n: int) -> list[bytes]:
    from google.protobuf import json_format

    from engine.convert import datetime_to_timestamp
    from tact.v1 import case_pb2, decision_service_pb2

    cases = [
        json_format.Parse(p.read_text(), case_pb2.Case())
        for p in sorted((repo / "examples" / "cases").glob("*.json"))
    ]
    out = []
    for i in range(n):
        case = case_pb2.Case()
        case.CopyFrom(cases[i % len(cases)])
        case.case_id = f"{case.case_id}-{uuid.uuid4().hex[:10]}"
        for event in case.recent_events:
            event.case_id = case.case_id
        request = decision_service_pb2.DecideRequest(case=case, now=datetime_to_timestamp(NOW))
        out.append(request.SerializeToString())
    return out


def _client(repo: str, port: int, n: int, ready: Any, go: Any) -> None:
    sys.path.insert(0, repo)
    import grpc

    identity = lambda b: b  # noqa: E731 - raw bytes in and out
    target = f"127.0.0.1:{port}"
    with grpc.insecure_channel(target) as channel:
        decide = channel.unary_unary(
            DECIDE, request_serializer=identity, response_deserializer=identity
        )
        stream = channel.stream_stream(
            STREAM, request_serializer=identity, response_deserializer=identity
        )
        for request in _requests(Path(repo), 50):  # warm-up: every series and statement
            decide(request, timeout=30)
        list(stream(iter(_requests(Path(repo), 64)), timeout=60))
        unary, streamed, pooled = (_requests(Path(repo), n) for _ in PHASES)
        ready.put("ready")
        go.get()
        for request in unary:
            decide(request, timeout=30)
        ready.put("done")
        go.get()
        assert sum(1 for _ in stream(iter(streamed), timeout=300)) == n
        ready.put("done")
        go.get()
        jobs, lock = iter(pooled), threading.Lock()

        def worker() -> None:
            with grpc.insecure_channel(
                target, options=[("grpc.use_local_subchannel_pool", 1)]
            ) as own:
                call = own.unary_unary(
                    DECIDE, request_serializer=identity, response_deserializer=identity
                )
                while True:
                    with lock:
                        request = next(jobs, None)
                    if request is None:
                        return
                    call(request, timeout=30)

        workers = [threading.Thread(target=worker) for _ in range(8)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        ready.put("done")


def _callgrind(*args: str) -> None:
    subprocess.run(
        ["callgrind_control", *args, str(os.getpid())], check=True, stdout=subprocess.DEVNULL
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--policy", default="rl:default", help="TACT_POLICY to serve")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument(
        "--access-log", action="store_true", help="log as tact serve does (INFO, text, stderr)"
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="under callgrind: instrument each phase alone, count nothing else",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    repo = str(args.repo.resolve())
    sys.path.insert(0, repo)
    os.chdir(repo)
    import gc
    import logging

    import engine  # noqa: F401 - first: pins OpenBLAS to one thread before numpy loads
    from engine.service import create_server
    from engine.settings import Settings

    counts = Counts()
    if not args.callgrind:
        connect = sqlite3.connect

        def traced(*a: Any, **k: Any) -> sqlite3.Connection:
            connection = connect(*a, **k)
            connection.set_trace_callback(counts.statement)
            return connection

        sqlite3.connect = traced  # type: ignore[assignment]
        sqlite3.dbapi2.connect = traced  # type: ignore[assignment]  # SQLAlchemy's
        threading.setprofile(counts.profile)
    if args.access_log:
        logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results: dict[str, Any] = {"repo": repo, "policy": args.policy, "decisions": args.decisions}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            port=0, database_url=f"sqlite:///{tmp}/count.db", rules_watch=False, policy=args.policy
        )
        running = create_server(settings)
        gc.collect()
        gc.freeze()  # as tact serve does
        spawn = mp.get_context("spawn")
        ready, go = spawn.Queue(), spawn.Queue()
        client = spawn.Process(target=_client, args=(repo, running.port, args.decisions, ready, go))
        try:
            client.start()
            assert ready.get(timeout=600) == "ready"
            for phase in PHASES:
                counts.statements.clear()
                counts.calls.clear()
                if args.callgrind:
                    _callgrind("-z")
                    _callgrind("-i", "on")
                counts.on = True
                go.put("go")
                assert ready.get(timeout=600) == "done"
                counts.on = False
                if args.callgrind:
                    _callgrind("-i", "off")
                    _callgrind("-d", phase.split()[0])
                else:
                    results[phase] = counts.per_decision(args.decisions)
            client.join(60)
        finally:
            running.stop(0)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
