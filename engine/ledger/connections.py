"""One driver connection per thread for the ledger's hot path (a decision's two calls).

Checking a connection out of SQLAlchemy's pool and back in costs more than reading a
case's events on SQLite, twice per decision; and the pool hands a thread a different
connection each time, whose SQLite page cache another connection's commit has just
invalidated. So each thread that calls the hot path keeps its own DBAPI connection:

* it is made by the engine's pool (so the engine's ``connect`` hooks run: PRAGMAs,
  ``statement_timeout``) and then **detached** from it, so that it takes no pool slot
  away from the SQLAlchemy paths and the WAL checkpointer;
* it runs in driver autocommit: a read is one statement, its own snapshot, and leaves no
  transaction open; the caller begins and commits writes explicitly (psycopg 3 and
  sqlite3 commit/roll back an explicitly begun transaction even in autocommit mode, as
  they ask the server/library whether one is open; psycopg2 would silently not);
* it is used only by its thread, under its own lock, which :meth:`ThreadConnections.close`
  and ``engine.dispose()`` take before closing it from another thread (the engine's
  SQLite connections are made with ``check_same_thread=False`` for that reason);
* it is replaced when the caller reports it broken (:meth:`ThreadConnections.discard`),
  when it is older than ``max_age_s`` (PostgreSQL: like the pool's ``pool_recycle``),
  after ``engine.dispose()``, and closed when its thread has ended (checked whenever a new
  thread connects) or the ledger closes.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 5.0
"""How long closing waits for a thread to finish the call it is making on its connection."""


class ConnectionsClosed(Exception):
    """Raised by :meth:`ThreadConnections.acquire` once :meth:`ThreadConnections.close` ran."""


class HeldConnection:
    """A thread's driver connection (``dbapi``; ``None`` until (re)connected)."""

    __slots__ = ("dbapi", "expires_at", "fresh", "lock", "stale", "thread")

    def __init__(self, thread: threading.Thread) -> None:
        self.dbapi: Any = None
        self.lock = threading.Lock()
        self.thread = thread
        self.expires_at: float | None = None
        self.fresh = True
        """No call has completed on ``dbapi`` yet (a failure then is not a stale link)."""
        self.stale = False
        """Set from another thread: replace ``dbapi`` before its next use."""

    def close(self) -> None:
        """Close the driver connection (the caller holds ``lock`` or owns the thread)."""
        dbapi, self.dbapi = self.dbapi, None
        if dbapi is not None:
            with suppress(Exception):
                dbapi.close()


class ThreadConnections:
    """Per-thread driver connections of one engine; see the module docstring."""

    def __init__(self, engine: Engine, *, max_age_s: float | None) -> None:
        self._engine = engine
        self._max_age_s = max_age_s
        self._local = threading.local()
        self._registry_lock = threading.Lock()
        self._held: list[HeldConnection] = []
        self._closed = False
        self._sqlite = engine.dialect.name == "sqlite"
        event.listen(engine, "engine_disposed", self._on_dispose)

    def acquire(self) -> HeldConnection:
        """This thread's connection, locked, connected; pair with :meth:`release`.

        Raises :class:`ConnectionsClosed` after :meth:`close`, and the driver's or
        SQLAlchemy's exception when a new connection cannot be made.
        """
        held: HeldConnection | None = getattr(self._local, "held", None)
        if held is None:
            held = self._register()
        held.lock.acquire()
        try:
            if self._closed:
                held.close()
                raise ConnectionsClosed
            if held.dbapi is None or held.stale or self._expired(held):
                held.close()
                held.stale = False
                self._connect(held)
        except BaseException:
            held.lock.release()
            raise
        return held

    @staticmethod
    def release(held: HeldConnection, *, ok: bool) -> None:
        """Unlock ``held``; ``ok`` when the call completed (the connection is proven live)."""
        if ok:
            held.fresh = False
        if held.stale:  # closing or disposing waited for this call in vain
            held.close()
        held.lock.release()

    @staticmethod
    def discard(held: HeldConnection) -> None:
        """Close the (locked) connection: it is broken, or in an unknown state."""
        held.close()

    def close(self) -> None:
        """Close every thread's connection; later :meth:`acquire` calls raise."""
        self._closed = True
        self._close_all()

    def current(self) -> Any:
        """This thread's driver connection, or ``None`` (for tests and diagnostics)."""
        held: HeldConnection | None = getattr(self._local, "held", None)
        return None if held is None else held.dbapi

    def count(self) -> int:
        """Threads holding an open connection (for tests and diagnostics)."""
        with self._registry_lock:
            return sum(held.dbapi is not None for held in self._held)

    # -- internals ----------------------------------------------------------------------

    def _register(self) -> HeldConnection:
        thread = threading.current_thread()
        held = HeldConnection(thread)
        with self._registry_lock:
            ended = [h for h in self._held if not h.thread.is_alive()]
            self._held = [h for h in self._held if h.thread.is_alive()]
            self._held.append(held)
        for old in ended:  # its thread is gone: nobody else can be using it
            old.close()
        self._local.held = held
        return held

    def _expired(self, held: HeldConnection) -> bool:
        return held.expires_at is not None and time.monotonic() >= held.expires_at

    def _connect(self, held: HeldConnection) -> None:
        proxied = self._engine.raw_connection()
        try:
            dbapi: Any = proxied.driver_connection
            if not self._sqlite:
                # Whatever the pool did on checkout (pre-ping) may have begun a
                # transaction; autocommit can only be switched outside one.
                dbapi.rollback()
                dbapi.autocommit = True
        except BaseException:
            proxied.invalidate()  # closes it and frees its pool slot
            raise
        proxied.detach()
        held.dbapi = dbapi
        held.fresh = True
        held.expires_at = None if self._max_age_s is None else time.monotonic() + self._max_age_s

    def _on_dispose(self, _engine: Engine) -> None:
        self._close_all()

    def _close_all(self) -> None:
        with self._registry_lock:
            helds = list(self._held)
        for held in helds:
            held.stale = True
            if held.lock.acquire(timeout=CLOSE_WAIT_S):
                try:
                    held.close()
                finally:
                    held.lock.release()
            else:  # its thread is stuck in a call: it closes the connection afterwards
                log.warning("ledger: a connection still in use was left to its thread")
