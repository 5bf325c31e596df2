"""``tact serve`` as a process: signals, graceful shutdown, reloads (:func:`serve`).

With ``TACT_PROCESSES > 1`` a supervising process runs server processes sharing one port
(SO_REUSEPORT): it migrates the ledger once, serves ``/metrics`` for all of them
(``prometheus_client`` multiprocess mode), forwards signals, and its servers end with it."""

from __future__ import annotations

import ctypes
import faulthandler
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import threading

from engine import telemetry
from engine.logs import configure_logging
from engine.security import check_exposure
from engine.service import create_server
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


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, stop gracefully and end the process; SIGHUP reloads the
    rule files, SIGUSR1 dumps every thread's stack to stderr.

    With ``settings.processes > 1`` this process supervises that many server processes
    sharing the port (SO_REUSEPORT), forwarding signals to them.
    """
    if settings.processes > 1:
        serve_processes(settings)
    else:
        _serve_one(settings)


def _serve_one(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully and end the process."""
    done = threading.Event()

    def shutdown(signum: int, _frame: object) -> None:
        log.info("signal %d: graceful shutdown (grace %.1fs)", signum, settings.grace_seconds)
        done.set()

    # From the first moment: a stop request during start-up is honoured once started, and
    # a reload request before the rules are loaded is moot (SIGHUP's default would kill).
    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # `kill -USR1 <pid>`: every thread's stack to stderr, for a process that seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    running = create_server(settings)
    # Long-lived start-up objects (rules, policy, pools) out of the collector's way: fewer
    # and shorter GC pauses on the decision path.
    gc.collect()
    gc.freeze()
    experiment = running.components.experiment
    log.info(
        "tact serving on %s:%d (pid %d, policy %s, rules %s, ledger %s%s)",
        settings.host,
        running.port,
        os.getpid(),
        running.components.pipeline.champion.policy.name,
        running.components.rules.current.version,
        running.components.ledger_url_safe,
        ""
        if experiment is None
        else f", experiment {experiment.current.experiment_id} "
        f"version {experiment.current.version}: arms {', '.join(experiment.current.arms)}"
        + (
            f"; case exploration: {pool.describe()}"
            if (pool := experiment.current.spec.case_exploration) is not None
            else ""
        ),
    )

    def reload(_signum: int, _frame: object) -> None:
        result = running.components.rules.reload(trigger="SIGHUP")
        log.info("SIGHUP rules reload: %s", result)
        if running.components.experiment is not None:
            running.components.experiment.reload(trigger="SIGHUP")

    signal.signal(signal.SIGHUP, reload)
    done.wait()
    # A stop that hangs anyway (a stuck call, a native library) ends with stacks on stderr.
    faulthandler.dump_traceback_later(settings.grace_seconds + 20, exit=True)
    running.stop(settings.grace_seconds)
    faulthandler.cancel_dump_traceback_later()
    log.info("tact stopped (pid %d)", os.getpid())
    logging.shutdown()
    # Everything that must be written is written and closed above. Interpreter shutdown
    # with gRPC's threads still around is known to hang now and then (grpc/grpc#17214 and
    # kin; seen once in this project's CI), so the process ends here, like a pre-fork
    # server's worker.
    os._exit(0)
