"""A `tact serve` subprocess for the benchmarks that need a real one (the loop, OPE, the
bad-input run, the soak)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_serving(address: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"tact serve exited with {proc.returncode}")
            try:
                health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return
            except grpc.RpcError:
                time.sleep(0.2)
    raise RuntimeError(f"tact serve did not answer on {address}")


@dataclass(frozen=True)
class Served:
    address: str
    """HOST:PORT of the running server."""
    pid: int


@contextlib.contextmanager
def tact_serve(env: dict[str, str], log_path: Path, repo: Path = REPO) -> Iterator[Served]:
    """Run `tact serve` with ``env`` (TACT_* settings) on a free port, its output to
    ``log_path``, serving ``repo``'s code (PYTHONPATH: before the editable install); ends it
    with SIGTERM."""
    port = free_port()
    full = {
        **os.environ,
        "PYTHONPATH": str(repo),
        "TACT_PORT": str(port),
        "TACT_RULES_WATCH": "false",
        "TACT_GRACE_SECONDS": "1",
        **env,
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
            env=full,
            cwd=repo,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    address = f"127.0.0.1:{port}"
    try:
        wait_serving(address, proc)
        yield Served(address, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
