"""``TACT_PROCESSES > 1``: a supervising process and its server processes sharing one
port (SO_REUSEPORT). The supervisor migrates the ledger once, serves ``/metrics`` for
all of them (``prometheus_client`` multiprocess mode) and forwards signals."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile

from engine import telemetry
from engine.logs import configure_logging
from engine.security import check_exposure
from engine.service import _serve_one
from engine.settings import Settings
from engine.side_doors import SideDoors

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _end_with_parent(parent: int) -> None:
    """Linux: SIGTERM this process when its supervisor dies, however it dies (a SIGKILLed
    supervisor cannot forward signals, and its children would serve on, orphaned). Then
    make sure the supervisor did not die before the request took effect."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _serve_child(settings: Settings, parent: int) -> None:
    """A server process of ``TACT_PROCESSES > 1`` (spawned: it sets its logging up anew);
    it ends gracefully with its supervisor."""
    _end_with_parent(parent)
    configure_logging(settings.log_level, settings.log_format)
    _serve_one(settings)


def serve_processes(settings: Settings) -> None:
    """Run ``settings.processes`` server processes sharing the port (SO_REUSEPORT),
    forwarding signals to them; serve the sum of their metrics."""
    if settings.port == 0:
        raise ValueError(
            "TACT_PROCESSES > 1 needs a fixed TACT_PORT: processes share one port, and port 0 "
            "would give each its own"
        )
    # Migrate once here, so that the children never race to create the schema.
    from engine.app import prepare_database

    prepare_database(settings.database_url)
    check_exposure(settings)
    # Metrics of every process, served by this one (the children write sample files).
    metrics_dir = tempfile.mkdtemp(prefix="tact-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # inherited by the children
    doors = SideDoors()
    if settings.metrics_port is not None:
        doors.metrics_server, doors.metrics_port = telemetry.start_metrics_server(
            settings.host, settings.metrics_port
        )
    child_settings = settings.model_copy(update={"metrics_port": None})
    context = multiprocessing.get_context("spawn")  # no gRPC state crosses a fork
    # Inherited through exec: a child ignores a reload or stack-dump request until it has
    # installed its own handlers (the default action of both would end it mid-start-up).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    children = [
        context.Process(
            target=_serve_child, args=(child_settings, os.getpid()), name=f"tact-serve-{i}"
        )
        for i in range(settings.processes)
    ]
    for child in children:
        child.start()
    log.info("tact: %d server processes on port %d", len(children), settings.port)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(signum, forward)
    # One replica dying takes the group down: the orchestrator restarts the whole unit.
    multiprocessing.connection.wait([c.sentinel for c in children])
    forward(signal.SIGTERM, None)
    for child in children:
        child.join(settings.grace_seconds + 5)
        if child.pid is not None:
            telemetry.process_ended(child.pid)
    doors.close_metrics()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    failed = [c.name for c in children if c.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise SystemExit(f"server processes failed: {', '.join(failed)}")
