"""`tact serve` as operators run it: a real process, signals, one or several replicas."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from engine.convert import datetime_to_timestamp
from engine.ledger import open_ledger
from engine.settings import REPO_ROOT
from tact.v1 import case_pb2, decision_service_pb2, decision_service_pb2_grpc
from tests.support.processes import kill, start_serve, stopped, wait_serving

CASE = json_format.Parse(
    (REPO_ROOT / "examples" / "cases" / "se-telecom-early.json").read_text(), case_pb2.Case()
)


def _start(processes: int, tmp_path: Path) -> tuple[str, subprocess.Popen[bytes], str]:
    db = f"sqlite:///{tmp_path / 'tact.db'}"
    address, proc = start_serve(
        {
            "TACT_DATABASE_URL": db,
            "TACT_PROCESSES": str(processes),
            "TACT_POLICY": "ladder",
            "TACT_GRACE_SECONDS": "1",
        }
    )
    return address, proc, db


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes], str]]:
    address, proc, db = _start(request.param, tmp_path)
    try:
        wait_serving(address, proc)
        yield address, proc, db
    finally:
        kill(proc)


def _wait_ignoring_sighup(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until the process ignores SIGHUP (bit 1 of SigIgn in /proc/<pid>/status): from then
    on it is inside tact's start-up, before its reload handler exists. Sending the signal
    earlier tests the interpreter's own start-up, which no program can protect."""
    deadline = time.monotonic() + timeout
    status = Path(f"/proc/{proc.pid}/status")
    while time.monotonic() < deadline:
        assert proc.poll() is None, "tact serve ended during start-up"
        ignored = next(
            (ln.split()[1] for ln in status.read_text().splitlines() if ln.startswith("SigIgn:")),
            "0",
        )
        if int(ignored, 16) & (1 << (signal.SIGHUP - 1)):
            return
        time.sleep(0.005)
    raise AssertionError("tact serve never began ignoring SIGHUP")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
def test_a_reload_request_during_start_up_does_not_kill_it(processes: int, tmp_path: Path) -> None:
    """SIGHUP's default action ends a process: before the reload handler is installed (a
    replica still loading its rules and policy) the request is ignored instead."""
    address, proc, _ = _start(processes, tmp_path)
    try:
        _wait_ignoring_sighup(proc)  # tact.cli's first statements ran; rules still loading
        proc.send_signal(signal.SIGHUP)
        wait_serving(address, proc)
        proc.send_signal(signal.SIGHUP)  # and once serving, it reloads
        time.sleep(0.5)
        wait_serving(address, proc)
        proc.send_signal(signal.SIGTERM)
        assert stopped(proc, 30) == 0
    finally:
        kill(proc)


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
    wait_serving(address, proc)
    proc.send_signal(signal.SIGTERM)
    assert stopped(proc, 30) == 0
    ledger = open_ledger(db)
    try:
        assert all(ledger.get_decision(i) is not None for i in ids)  # every replica wrote
    finally:
        ledger.close()


def test_sigterm_drains_a_stream_delivering_every_stored_decision(tmp_path: Path) -> None:
    """SIGTERM mid-stream: the stream takes no more cases, delivers what it stored, and ends
    UNAVAILABLE with reason STREAM_DRAINED (well before the grace period is over); every
    decision delivered is in the ledger and every decision stored was delivered."""
    db = f"sqlite:///{tmp_path / 'tact.db'}"
    grace = 10.0
    address, proc = start_serve(
        {
            "TACT_DATABASE_URL": db,
            "TACT_POLICY": "ladder",
            "TACT_RULES_WATCH": "false",
            "TACT_GRACE_SECONDS": str(grace),
            "TACT_STREAM_BATCH_SIZE": "8",
        }
    )
    done = threading.Event()

    def requests() -> Iterator[decision_service_pb2.DecideRequest]:
        for i in range(5000):  # an endless nightly batch, sent as fast as it is taken
            if done.is_set():
                return
            case = case_pb2.Case()
            case.CopyFrom(CASE)
            case.case_id = f"drain-{i}"
            yield decision_service_pb2.DecideRequest(
                case=case, now=datetime_to_timestamp(datetime(2026, 11, 26, 9, tzinfo=UTC))
            )
            time.sleep(0.002)

    delivered: list[decision_service_pb2.Decision] = []
    try:
        wait_serving(address, proc)
        with grpc.insecure_channel(address) as channel:
            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            stream = stub.DecideStream(requests(), timeout=60)
            with pytest.raises(grpc.RpcError) as info:
                for decision in stream:
                    delivered.append(decision)
                    if len(delivered) == 40:
                        proc.send_signal(signal.SIGTERM)
                        signalled = time.monotonic()
            ended_after = time.monotonic() - signalled
            done.set()
        assert stopped(proc, grace + 30) == 0
    finally:
        done.set()
        kill(proc)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value.details()
    status = rpc_status.from_call(info.value)
    assert status is not None
    reasons = []
    for detail in status.details:
        error_info = error_details_pb2.ErrorInfo()
        if detail.Unpack(error_info):
            reasons.append((error_info.reason, error_info.domain))
    assert reasons == [("STREAM_DRAINED", "tact.v1")]
    assert f"delivered {len(delivered)} decisions" in info.value.details()
    assert ended_after < grace / 2, "the stream kept taking cases through the grace period"
    assert not [d for d in delivered if d.error.code]
    engine = sa.create_engine(db)
    try:
        with engine.connect() as connection:
            stored = set(connection.execute(sa.text("SELECT decision_id FROM decision")).scalars())
    finally:
        engine.dispose()
    assert {d.decision_id for d in delivered} == stored
    # Order-preserving: what was delivered is the first cases sent, with no gap.
    assert [d.case_id for d in delivered] == [f"drain-{i}" for i in range(len(delivered))]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc/<n>/stat's ppid field)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_server_processes_end_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """A SIGKILLed supervisor cannot forward SIGTERM; its server processes must not serve
    on as orphans (they hold the port and the ledger)."""
    address, proc, _ = _start(2, tmp_path)
    try:
        wait_serving(address, proc)
        servers = [
            c for c in _children(proc.pid) if _alive(c) and "resource_tracker" not in _cmdline(c)
        ]
        assert len(servers) >= 2, f"expected two server processes under {proc.pid}: {servers}"
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(c) for c in servers):
            time.sleep(0.1)
        left = [c for c in servers if _alive(c)]
        assert not left, f"server processes {left} outlived their SIGKILLed supervisor"
    finally:
        kill(proc)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_taken_port_is_one_line_saying_what_to_change(tmp_path: Path) -> None:
    """Not a 70-line traceback: the address, and the setting to change."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
            env={
                **os.environ,
                "TACT_PORT": str(port),
                "TACT_DATABASE_URL": f"sqlite:///{tmp_path / 'tact.db'}",
                "TACT_POLICY": "ladder",
            },
            cwd=REPO_ROOT,
            capture_output=True,
            timeout=120,
        )
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "TACT_PORT" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("TACT_PORT", "abc", "TACT_PORT: Input should be a valid integer"),
        ("TACT_POLICY", "bogus", "unknown policy 'bogus'"),
        ("TACT_POLICY", "rl:nomodel", "no artifact folder"),
        ("TACT_POLICY", "daily-calls", "deliberately harmful"),
        ("TACT_RULES_DIR", "/nonexistent/rules", "rules directory not found"),
        ("TACT_HOST", "0.0.0.0", "refusing to serve 0.0.0.0 without authentication"),
    ],
)
def test_an_unusable_setting_is_one_error_saying_what_to_change(
    tmp_path: Path, setting: str, value: str, says: str
) -> None:
    """Operators read the first line: a bad TACT_* value stops the start with its own
    message and exit status 2, not a traceback."""
    proc = subprocess.run(
        [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
        env={
            **os.environ,
            "TACT_PORT": "0",
            "TACT_DATABASE_URL": f"sqlite:///{tmp_path / 'tact.db'}",
            "TACT_POLICY": "ladder",
            setting: value,
        },
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
    )
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 2, out
    assert says in " ".join(out.split()), out
    assert "Traceback" not in out


def test_an_experiment_problem_is_printed_with_its_field_in_brackets(tmp_path: Path) -> None:
    """Messages are printed as text, not as console markup: "[champion]" (the field) once
    vanished as an unknown style tag, leaving "e.yaml:2:1 : …"."""
    experiment = tmp_path / "harm.yaml"
    experiment.write_text(
        "id: harm\nchampion: daily-calls\nchallengers: [{name: s, policy: segmented, share: 0.1}]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
        env={
            **os.environ,
            "TACT_PORT": "0",
            "TACT_DATABASE_URL": f"sqlite:///{tmp_path / 'tact.db'}",
            "TACT_EXPERIMENT_FILE": str(experiment),
            "COLUMNS": "400",
        },
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
    )
    out = " ".join((proc.stdout.decode() + proc.stderr.decode()).split())
    assert proc.returncode == 2, out
    assert "harm.yaml:2:1 [champion]: policy 'daily-calls'" in out, out
    assert "deliberately harmful" in out and "Traceback" not in out
    assert not (tmp_path / "tact.db").exists()  # a bad file is refused before any migration
