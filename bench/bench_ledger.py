"""Ledger benchmark: the storage cost of one decision, on the service's own ledger code.

Per decision the service reads the case's history (``events_for_case``) and stores the
decision with its contact reservation (``save_decision``, one transaction). Both are timed
here against a reference measured in the same run on the same engine: a bare
``SELECT 1`` on a pooled connection (these machines are shared and noisy, so ratios are
what compares across runs). Reference and workload are interleaved, decision by
decision, so that both see the same background noise.

    .venv/bin/python bench/bench_ledger.py [--url sqlite:///x.db | postgresql+psycopg://...]
        [--cases 2000] [--events 20] [--decisions 5000] [--threads 8] [--json out.json]

Without ``--url`` a fresh SQLite file in a temporary directory is used. On PostgreSQL the
tables are created in a fresh schema, dropped at the end. Objects created during set-up
are frozen out of the garbage collector (``gc.freeze()``) before timing, as a latency-
sensitive service should do once started; without it, gen-2 collections over the
imported libraries put multi-millisecond pauses into every p99 here, reference included.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.catalogue import Action, Channel  # noqa: E402
from engine.ledger import DecisionRecord, Ledger, inputs_digest, open_ledger  # noqa: E402
from engine.state import EventKind, LedgerEvent  # noqa: E402

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LOOKBACK = timedelta(days=3650)
"""What the pipeline reads per decision (engine/pipeline.py: the whole case life)."""
_KINDS = (
    EventKind.CONTACT_ATTEMPTED,
    EventKind.CONTACT_DELIVERED,
    EventKind.CONTACT_OPENED,
    EventKind.PROMISE_TO_PAY,
    EventKind.PAYMENT,
)


@dataclass(frozen=True, slots=True)
class Args:
    """Benchmark settings (see ``--help``)."""

    url: str | None
    cases: int
    """Cases in the ledger before the run."""
    events: int
    """Events per case (the history each decision reads)."""
    decisions: int
    """Decisions timed in the sequential run (and in the concurrent run, in total)."""
    threads: int
    """Worker threads of the concurrent run (the service runs 8–16)."""
    json_path: str | None


def _parse() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="ledger URL (default: temp SQLite file)")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--json", dest="json_path", default=None)
    ns = parser.parse_args()
    return Args(ns.url, ns.cases, ns.events, ns.decisions, ns.threads, ns.json_path)


@contextmanager
def _database(url: str | None) -> Iterator[str]:
    """A fresh, empty database: a temp SQLite file, or a temp schema on PostgreSQL."""
    if url is None:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    if make_url(url).get_backend_name() != "postgresql":
        yield url
        return
    schema = f"tact_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        options = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield options.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _populate(ledger: Ledger, cases: int, events: int) -> None:
    rng = np.random.default_rng(0)
    batch: list[LedgerEvent] = []
    for case in range(cases):
        for i in range(events):
            days_ago = float(rng.uniform(0, 120))
            batch.append(
                LedgerEvent(
                    event_id=f"c{case}-e{i}",
                    case_id=f"case-{case}",
                    kind=_KINDS[i % len(_KINDS)],
                    occurred_at=NOW - timedelta(days=days_ago),
                    channel=Channel.SMS,
                    action=Action.REMINDER,
                    amount_minor=1000 if _KINDS[i % len(_KINDS)] is EventKind.PAYMENT else 0,
                    debtor_id=f"debtor-{case}",
                )
            )
        if len(batch) >= 5000:
            ledger.record_events(batch)
            batch = []
    if batch:
        ledger.record_events(batch)


def _decision(case: int, serial: str) -> tuple[DecisionRecord, LedgerEvent]:
    decision_id = f"dec-{serial}"
    send_at = NOW + timedelta(hours=1)
    record = DecisionRecord(
        decision_id=decision_id,
        case_id=f"case-{case}",
        debtor_id=f"debtor-{case}",
        decided_at=NOW,
        treatment_index=5,
        treatment_label="REMINDER/SMS/NEUTRAL/MORNING",
        policy_name="ladder",
        policy_version="1.0.0",
        policy_arm="champion",
        propensity=1.0,
        ruleset_version="SE-2026.11",
        inputs_digest=inputs_digest(decision_id.encode()),
        send_at=send_at,
        rule_ids=("SE.quiet_hours",),
        explanation="bench",
    )
    reservation = LedgerEvent(
        event_id=f"planned:{decision_id}",
        case_id=record.case_id,
        kind=EventKind.CONTACT_PLANNED,
        occurred_at=send_at,
        channel=Channel.SMS,
        action=Action.REMINDER,
        decision_id=decision_id,
        debtor_id=record.debtor_id,
    )
    return record, reservation


def _select_one(engine: sa.Engine) -> Callable[[], None]:
    statement = sa.text("SELECT 1")

    def run() -> None:
        with engine.connect() as connection:
            connection.execute(statement).scalar()

    return run


def _driver_select_one(engine: sa.Engine) -> Callable[[], None]:
    """``SELECT 1`` on a pooled driver connection (the hot path's floor until it kept one
    connection per thread: ``_thread_select_1`` is the floor now)."""

    def run() -> None:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            cursor.close()
        finally:
            connection.close()

    return run


def _thread_select_one(ledger: Ledger) -> Callable[[], None]:
    """``SELECT 1`` through the ledger's hot-path runner, on this thread's own connection.

    The floor of ``events_for_case``: what is left once the case's rows are not read.
    """

    def select_one(cursor: Any) -> None:
        cursor.execute("SELECT 1")
        cursor.fetchone()

    def run() -> None:
        ledger._run_on_driver("benchmarking", select_one, write=False)

    return run


def _core_decision(ledger: Ledger) -> Callable[[DecisionRecord, LedgerEvent], None]:
    """The same decision through SQLAlchemy Core (``engine.ledger.queries``): the "before".

    This is how the ledger ran the hot path before it moved to the driver connection; it
    is kept here so that the gain stays measured (house rule: benchmark before and after).
    """
    from engine.ledger import queries
    from engine.ledger.codec import decision_row as _decision_row
    from engine.ledger.codec import event_from_row as _event_from_row
    from engine.ledger.codec import event_row as _event_row
    from engine.ledger.db import WRITE_OPTION
    from engine.ledger.models import SOURCE_DECISION

    writer = ledger.engine.execution_options(**{WRITE_OPTION: True})

    def run(record: DecisionRecord, reservation: LedgerEvent) -> None:
        with ledger.engine.connect() as connection:
            rows = queries.select_case_events(
                connection=connection, case_id=record.case_id, since=NOW - LOOKBACK
            )
            [_event_from_row(row) for row in rows]
        event_row = _event_row(
            reservation,
            debtor_id=reservation.debtor_id,
            currency="",
            source=SOURCE_DECISION,
            recorded_at=datetime.now(UTC),
        )
        with writer.begin() as connection:
            queries.insert_decision(connection=connection, row=_decision_row(record))
            queries.insert_event(connection=connection, row=event_row)

    return run


def _stats(seconds: list[float]) -> dict[str, float]:
    us = np.asarray(seconds) * 1e6
    return {"p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99))}


def _sequential(ledger: Ledger, args: Args) -> dict[str, dict[str, float]]:
    reference = _select_one(ledger.engine)
    driver_reference = _driver_select_one(ledger.engine)
    thread_reference = _thread_select_one(ledger)
    core_decision = _core_decision(ledger)
    rng = np.random.default_rng(1)
    times: dict[str, list[float]] = {
        "select_1": [],
        "driver_select_1": [],
        "thread_select_1": [],
        "read": [],
        "save": [],
        "decision": [],
        "core_decision": [],
    }
    for _ in range(200):  # warm the pool, the statement caches and SQLite's page cache
        reference()
        driver_reference()
        thread_reference()
        ledger.events_for_case(f"case-{int(rng.integers(args.cases))}", since=NOW - LOOKBACK)
    clock = time.perf_counter
    for n in range(args.decisions):
        case = int(rng.integers(args.cases))
        record, reservation = _decision(case, f"s{n}")
        core_record, core_reservation = _decision(case, f"core{n}")
        tc = clock()
        core_decision(core_record, core_reservation)
        tt = clock()
        thread_reference()
        tr = clock()
        driver_reference()
        t0 = clock()
        reference()
        t1 = clock()
        ledger.events_for_case(record.case_id, since=NOW - LOOKBACK)
        t2 = clock()
        ledger.save_decision(record, reservation=reservation)
        t3 = clock()
        times["core_decision"].append(tt - tc)
        times["thread_select_1"].append(tr - tt)
        times["driver_select_1"].append(t0 - tr)
        times["select_1"].append(t1 - t0)
        times["read"].append(t2 - t1)
        times["save"].append(t3 - t2)
        times["decision"].append(t3 - t1)
    return {name: _stats(samples) for name, samples in times.items()}


def _concurrent(ledger: Ledger, args: Args) -> dict[str, float]:
    """Decisions/s and latency with ``args.threads`` workers, vs SELECT 1/s the same way."""

    def run(work: Callable[[int, int], None]) -> tuple[float, list[float]]:
        per_thread = args.decisions // args.threads
        latencies: list[list[float]] = [[] for _ in range(args.threads)]
        barrier = threading.Barrier(args.threads + 1)

        def worker(t: int) -> None:
            barrier.wait()
            for i in range(per_thread):
                start = time.perf_counter()
                work(t, i)
                latencies[t].append(time.perf_counter() - start)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads)]
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        return per_thread * args.threads / elapsed, [x for lat in latencies for x in lat]

    select_one = _select_one(ledger.engine)
    run_id = uuid.uuid4().hex[:6]

    def decide(t: int, i: int) -> None:
        case = (t * 7919 + i * 104729) % args.cases
        record, reservation = _decision(case, f"c{run_id}-{t}-{i}")
        ledger.events_for_case(record.case_id, since=NOW - LOOKBACK)
        ledger.save_decision(record, reservation=reservation)

    reference_rate, reference_lat = run(lambda t, i: select_one())
    decision_rate, decision_lat = run(decide)
    return {
        "threads": args.threads,
        "select_1_per_s": reference_rate,
        "decisions_per_s": decision_rate,
        "decision_p50_us": _stats(decision_lat)["p50_us"],
        "decision_p99_us": _stats(decision_lat)["p99_us"],
        "select_1_p99_us": _stats(reference_lat)["p99_us"],
    }


def main() -> None:
    args = _parse()
    with _database(args.url) as url:
        ledger = open_ledger(url)
        try:
            _populate(ledger, args.cases, args.events)
            # As the service does after start-up: move start-up objects out of the
            # collector's reach, so that gen-2 collections do not add ms pauses to p99.
            gc.collect()
            gc.freeze()
            sequential = _sequential(ledger, args)
            concurrent = _concurrent(ledger, args)
        finally:
            ledger.close()
    backend = make_url(url).get_backend_name()
    ref = sequential["select_1"]
    print(
        f"ledger on {backend}: {args.cases} cases × {args.events} events, "
        f"{args.decisions} decisions"
    )
    print("| operation | p50 µs | p99 µs | p50 / SELECT 1 | p99 / SELECT 1 |")
    print("|---|---:|---:|---:|---:|")
    for name, label in (
        ("select_1", "bare `SELECT 1`, SQLAlchemy connection (reference)"),
        ("driver_select_1", "bare `SELECT 1`, pooled driver connection"),
        ("thread_select_1", "bare `SELECT 1`, the ledger's per-thread driver connection"),
        ("read", f"`events_for_case` ({args.events} events)"),
        ("save", "`save_decision` + reservation"),
        ("decision", "read + save (one decision)"),
        ("core_decision", "read + save via SQLAlchemy Core (before)"),
    ):
        s = sequential[name]
        print(
            f"| {label} | {s['p50_us']:.0f} | {s['p99_us']:.0f} | "
            f"{s['p50_us'] / ref['p50_us']:.1f} | {s['p99_us'] / ref['p99_us']:.1f} |"
        )
    print(
        f"\n{concurrent['threads']} threads: {concurrent['decisions_per_s']:.0f} decisions/s "
        f"(p50 {concurrent['decision_p50_us']:.0f} µs, p99 {concurrent['decision_p99_us']:.0f} "
        f"µs) vs {concurrent['select_1_per_s']:.0f} SELECT 1/s — ratio "
        f"{concurrent['decisions_per_s'] / concurrent['select_1_per_s']:.2f}"
    )
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps(
                {
                    "backend": backend,
                    "args": vars_of(args),
                    "sequential": sequential,
                    "concurrent": concurrent,
                },
                indent=2,
            )
        )


def vars_of(args: Args) -> dict[str, object]:
    return {name: getattr(args, name) for name in Args.__slots__}  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
