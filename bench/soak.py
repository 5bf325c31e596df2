"""Soak: a steady mixed load on a real `tact serve` process for N minutes (default 10),
with a rule reload every minute. Not part of CI.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 40] [--policy ladder]
        [--database-url sqlite:///...] [--json out.json]

Load, per second on average (``--rate`` Decide calls; the rest in proportion): Decide
(each a fresh or a returning case), a DecideStream of 16 cases every 2 s, RecordEvents
(the contact attempt of an earlier decision), CheckAction; every minute one rule file
is edited (a comment) and ``AdminService.ReloadRules`` is called. Calls carry a bearer
token (auth on), so the soak covers the production path.

Reports: errors by RPC and status (the target is 0), Decide p50/p99 per minute (target:
last minute's p99 within 1.5x the first's), and the server's RSS after the first minute
and at the end (target: growth < 10 %).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from engine.auth import hash_token  # noqa: E402
from engine.convert import datetime_to_timestamp  # noqa: E402
from tact.v1 import (  # noqa: E402
    admin_service_pb2,
    admin_service_pb2_grpc,
    case_pb2,
    decision_service_pb2,
    decision_service_pb2_grpc,
    types_pb2,
)

TOKEN, ADMIN_TOKEN = "soak-token", "soak-admin"
CASES = [
    json_format.Parse(p.read_text(), case_pb2.Case())
    for p in sorted((REPO / "examples" / "cases").glob("*.json"))
]


class Recorder:
    """Latencies per (minute, rpc) and errors per (rpc, code), thread-safe."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.lock = threading.Lock()
        self.latency: dict[tuple[int, str], list[float]] = defaultdict(list)
        self.errors: Counter[tuple[str, str]] = Counter()
        self.calls: Counter[str] = Counter()

    def timed(self, rpc: str, call: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            result = call()
        except grpc.RpcError as err:
            with self.lock:
                self.errors[(rpc, err.code().name)] += 1
                self.calls[rpc] += 1
            print(f"error {rpc}: {err.code().name} {err.details()}", file=sys.stderr)
            return None
        elapsed = time.perf_counter() - t0
        minute = int((time.monotonic() - self.started) // 60)
        with self.lock:
            self.latency[(minute, rpc)].append(elapsed)
            self.calls[rpc] += 1
        return result


def _case(rng: random.Random, known: list[str]) -> case_pb2.Case:
    case = case_pb2.Case()
    case.CopyFrom(rng.choice(CASES))
    if known and rng.random() < 0.5:  # a returning case: its ledger grows
        case.case_id = rng.choice(known)
    else:
        case.case_id = f"soak-{uuid.uuid4().hex[:12]}"
    case.debtor_id = f"d-{case.case_id}"
    for event in case.recent_events:
        event.case_id = case.case_id
    return case


def _drain(method: Any, requests: list[Any], metadata: Any) -> list[Any]:
    return list(method(iter(requests), timeout=30, metadata=metadata))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=40.0, help="Decide calls per second")
    parser.add_argument("--policy", default="ladder")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tact-soak-"))
    rules = tmp / "rules"
    shutil.copytree(REPO / "rules", rules)
    tokens = tmp / "tokens.yaml"
    tokens.write_text(
        "tokens:\n"
        f"  - {{name: soak, sha256: {hash_token(TOKEN)}, scopes: [decide, events]}}\n"
        f"  - {{name: ops, sha256: {hash_token(ADMIN_TOKEN)}, scopes: [admin]}}\n"
    )
    port = _free_port()
    env = {
        **os.environ,
        "TACT_PORT": str(port),
        "TACT_DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'soak.db'}",
        "TACT_RULES_DIR": str(rules),
        "TACT_RULES_WATCH": "false",
        "TACT_POLICY": args.policy,
        "TACT_AUTH_TOKENS_FILE": str(tokens),
        "TACT_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
        env=env,
        cwd=REPO,
    )
    target = f"127.0.0.1:{port}"
    md = [("authorization", f"Bearer {TOKEN}")]
    admin_md = [("authorization", f"Bearer {ADMIN_TOKEN}")]
    try:
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 120
            while True:
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        break
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("tact serve did not start")
                time.sleep(0.3)

            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            started = time.monotonic()
            end = started + args.minutes * 60
            rec = Recorder(started)
            known: list[str] = []
            decided: list[decision_service_pb2.Decision] = []
            lock = threading.Lock()
            rss: dict[str, int] = {}

            def decide_loop(seed: int) -> None:
                rng = random.Random(seed)
                period = 2.0 / args.rate  # two Decide threads
                next_at = time.monotonic()
                while time.monotonic() < end:
                    with lock:
                        case = _case(rng, known)
                    now = datetime.now(UTC)
                    request = decision_service_pb2.DecideRequest(
                        case=case, now=datetime_to_timestamp(now)
                    )
                    decision = rec.timed(
                        "Decide", partial(stub.Decide, request, timeout=10, metadata=md)
                    )
                    if decision is not None:
                        with lock:
                            known.append(case.case_id)
                            del known[:-2000]
                            if decision.treatment.channel:
                                decided.append(decision)
                                del decided[:-2000]
                    next_at += rng.expovariate(1 / period)
                    time.sleep(max(0.0, next_at - time.monotonic()))

            def stream_loop() -> None:
                rng = random.Random(7)
                while time.monotonic() < end:
                    with lock:
                        cases = [_case(rng, known) for _ in range(16)]
                    requests = [decision_service_pb2.DecideRequest(case=c) for c in cases]
                    rec.timed(
                        "DecideStream",
                        partial(_drain, stub.DecideStream, requests, md),
                    )
                    time.sleep(2.0)

            def events_and_checks_loop() -> None:
                rng = random.Random(11)
                period = 4.0 / args.rate
                while time.monotonic() < end:
                    with lock:
                        decision = rng.choice(decided) if decided else None
                        case = _case(rng, known)
                    if decision is not None:
                        event = case_pb2.Event(
                            event_id=f"attempt-{uuid.uuid4().hex[:10]}",
                            case_id=decision.case_id,
                            debtor_id=f"d-{decision.case_id}",
                            decision_id=decision.decision_id,
                            type=case_pb2.EVENT_TYPE_CONTACT_ATTEMPTED,
                            channel=decision.treatment.channel,
                            action=decision.treatment.action,
                            occurred_at=datetime_to_timestamp(datetime.now(UTC)),
                        )
                        request = decision_service_pb2.RecordEventsRequest(events=[event])
                        rec.timed(
                            "RecordEvents",
                            partial(stub.RecordEvents, request, timeout=10, metadata=md),
                        )
                    check = decision_service_pb2.CheckActionRequest(
                        case=case,
                        proposed=types_pb2.Treatment(
                            action=types_pb2.ACTION_REMINDER, channel=types_pb2.CHANNEL_SMS
                        ),
                        at=datetime_to_timestamp(datetime.now(UTC)),
                    )
                    rec.timed(
                        "CheckAction", partial(stub.CheckAction, check, timeout=10, metadata=md)
                    )
                    time.sleep(rng.expovariate(1 / period))

            def reload_loop() -> None:
                minute = 0
                target_file = rules / "SE.yaml"
                while True:
                    minute += 1
                    wake = started + 60 * minute
                    if wake >= end:
                        return
                    time.sleep(max(0.0, wake - time.monotonic()))
                    if minute == 1:
                        rss["after_first_minute_kib"] = _rss_kib(server.pid)
                    with target_file.open("a") as f:
                        f.write(f"\n# soak edit {minute}\n")
                    result = rec.timed(
                        "ReloadRules",
                        lambda: admin.ReloadRules(
                            admin_service_pb2.ReloadRulesRequest(), timeout=60, metadata=admin_md
                        ),
                    )
                    if result is not None and not result.ok:
                        with rec.lock:
                            rec.errors[("ReloadRules", "rejected")] += 1

            threads = [
                threading.Thread(target=decide_loop, args=(1,)),
                threading.Thread(target=decide_loop, args=(2,)),
                threading.Thread(target=stream_loop),
                threading.Thread(target=events_and_checks_loop),
                threading.Thread(target=reload_loop),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rss["end_kib"] = _rss_kib(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    minutes = sorted({m for m, rpc in rec.latency if rpc == "Decide"})
    per_minute = {
        m: {
            "p50_ms": float(np.percentile(rec.latency[(m, "Decide")], 50) * 1e3),
            "p99_ms": float(np.percentile(rec.latency[(m, "Decide")], 99) * 1e3),
            "calls": len(rec.latency[(m, "Decide")]),
        }
        for m in minutes
    }
    full = [m for m in minutes if per_minute[m]["calls"] >= 0.5 * args.rate * 60]
    first, last = per_minute[full[0]], per_minute[full[-1]]
    growth = (
        rss["end_kib"] / rss["after_first_minute_kib"] - 1
        if "after_first_minute_kib" in rss
        else None
    )
    report = {
        "minutes": args.minutes,
        "calls": dict(rec.calls),
        "errors": {f"{rpc} {code}": n for (rpc, code), n in rec.errors.items()},
        "decide_per_minute": per_minute,
        "p99_last_over_first": last["p99_ms"] / first["p99_ms"],
        "rss_kib": rss,
        "rss_growth": growth,
    }
    print(json.dumps(report, indent=2))
    print(
        f"errors {sum(rec.errors.values())}; Decide p99 first {first['p99_ms']:.1f} ms, "
        f"last {last['p99_ms']:.1f} ms (x{report['p99_last_over_first']:.2f}); RSS growth "
        + (f"{growth * 100:.1f} %" if growth is not None else "n/a")
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
