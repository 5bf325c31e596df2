"""`tact serve` as a real process for tests: start it, wait until it serves, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from engine.settings import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(env: Mapping[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``tact serve`` on a free port with ``TACT_*`` settings ``env`` (on top of this
    process's environment); returns its address and process (stderr piped)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
        env={**os.environ, **env, "TACT_PORT": str(port)},
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return f"127.0.0.1:{port}", proc


def wait_serving(address: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
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


def stopped(proc: subprocess.Popen[bytes], timeout: float) -> int:
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


def kill(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` if it still runs (test clean-up): SIGTERM first, so that a supervisor
    of ``TACT_PROCESSES`` ends its server processes too (SIGKILL would orphan them), then
    SIGKILL if it has not stopped in 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait(10)
