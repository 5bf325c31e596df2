"""`tact serve` as operators run it: a real process, signals, one or several replicas."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from engine.convert import datetime_to_timestamp
from engine.ledger import open_ledger
from engine.settings import REPO_ROOT
from tact.v1 import case_pb2, decision_service_pb2, decision_service_pb2_grpc

CASE = json_format.Parse(
    (REPO_ROOT / "examples" / "cases" / "se-telecom-early.json").read_text(), case_pb2.Case()
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_serving(address: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                response = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.2)
    raise AssertionError(f"tact serve did not become healthy on {address}")


def _stopped(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """The exit code; if the server does not stop in time, fail with its thread stacks
    (`tact serve` dumps them on SIGUSR1) and the rest of its stderr."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(
            f"tact serve did not stop; its stderr:\n{err.decode()[-20000:]}"
        ) from None


def _start(processes: int, tmp_path: Path) -> tuple[str, subprocess.Popen[bytes], str]:
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'tact.db'}"
    env = {
        **os.environ,
        "TACT_PORT": str(port),
        "TACT_DATABASE_URL": db,
        "TACT_PROCESSES": str(processes),
        "TACT_POLICY": "ladder",
        "TACT_GRACE_SECONDS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return f"127.0.0.1:{port}", proc, db


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes], str]]:
    address, proc, db = _start(request.param, tmp_path)
    try:
        _wait_serving(address, proc)
        yield address, proc, db
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _wait_ignoring_sighup(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until `tact serve`'s first statement has run (SIGHUP ignored, per /proc): before
    it the interpreter itself is starting, which no program can guard (a fixed sleep
    raced with a slow start on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "tact serve ended while starting"
        status = Path(f"/proc/{proc.pid}/status").read_text()
        ignored = int(
            next(ln for ln in status.splitlines() if ln.startswith("SigIgn:")).split()[1], 16
        )
        if ignored & (1 << (signal.SIGHUP - 1)):
            return
        time.sleep(0.01)
    raise AssertionError("tact serve did not start ignoring SIGHUP")


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
def test_a_reload_request_during_start_up_does_not_kill_it(processes: int, tmp_path: Path) -> None:
    """SIGHUP's default action ends a process: before the reload handler is installed (a
    replica still loading its rules and policy) the request is ignored instead."""
    address, proc, _ = _start(processes, tmp_path)
    try:
        _wait_ignoring_sighup(proc)  # `tact serve` has begun; it is still importing, loading
        proc.send_signal(signal.SIGHUP)
        _wait_serving(address, proc)
        proc.send_signal(signal.SIGHUP)  # and once serving, it reloads
        time.sleep(0.5)
        _wait_serving(address, proc)
        proc.send_signal(signal.SIGTERM)
        assert _stopped(proc, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_serve_decides_reloads_on_sighup_and_stops_on_sigterm(
    served: tuple[str, subprocess.Popen[bytes], str],
) -> None:
    address, proc, db = served
    ids = []
    with grpc.insecure_channel(address) as channel:
        stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
        for i in range(20):
            case = case_pb2.Case()
            case.CopyFrom(CASE)
            case.case_id = f"serve-{i}"
            decision = stub.Decide(
                decision_service_pb2.DecideRequest(
                    case=case, now=datetime_to_timestamp(datetime(2026, 11, 26, 9, tzinfo=UTC))
                ),
                timeout=30,
            )
            ids.append(decision.decision_id)
    proc.send_signal(signal.SIGHUP)  # reload the rules: the server keeps serving
    time.sleep(0.5)
    _wait_serving(address, proc)
    proc.send_signal(signal.SIGTERM)
    assert _stopped(proc, 30) == 0
    ledger = open_ledger(db)
    try:
        assert all(ledger.get_decision(i) is not None for i in ids)  # every replica wrote
    finally:
        ledger.close()
