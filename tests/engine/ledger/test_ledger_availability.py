"""An unreachable or read-only database raises LedgerUnavailable (gRPC UNAVAILABLE)."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from engine.ledger import Ledger, LedgerUnavailable, open_ledger
from engine.state import LedgerEvent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""The sample records' default instant (conftest.T0)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _with_options(url: str, *options: str) -> str:
    parsed = make_url(url)
    current = parsed.query.get("options", "")
    joined = " ".join(filter(None, [current if isinstance(current, str) else "", *options]))
    return parsed.update_query_dict({"options": joined}).render_as_string(hide_password=False)


def test_unreachable_database_is_unavailable(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'no-such-dir' / 'tact.db'}"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/test"
    with pytest.raises(LedgerUnavailable, match="retry later"):
        open_ledger(url)


def test_read_only_database_is_unavailable(
    ledger_url: str, make_event: Callable[..., LedgerEvent]
) -> None:
    open_ledger(ledger_url).close()  # the schema exists; only writing is impossible
    if ledger_url.startswith("sqlite"):
        path = make_url(ledger_url).database
        read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        read_only = _with_options(ledger_url, "-cdefault_transaction_read_only=on")

    with pytest.raises(LedgerUnavailable, match="writable"):
        ledger = open_ledger(read_only)  # SQLite refuses already: migrating takes a write lock
        try:
            ledger.record_events([make_event("e-1")])
        finally:
            ledger.close()


class _Proxy:
    """A TCP forwarder to PostgreSQL that can be cut, to simulate a network outage."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        # shutdown() first: close() alone leaves a listener blocked in accept() accepting.
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def outage(ledger_url: str, tmp_path: Path) -> Iterator[tuple[Ledger, Callable[[], None]]]:
    """An open ledger, and a function that makes its database unreachable."""
    if ledger_url.startswith("sqlite"):
        directory = tmp_path / "outage"
        directory.mkdir()
        ledger = open_ledger(f"sqlite:///{directory / 'tact.db'}")

        def cut() -> None:
            ledger.engine.dispose()  # pooled connections keep the deleted file open
            shutil.rmtree(directory)

        yield ledger, cut
    else:
        parsed = make_url(ledger_url)
        proxy = _Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        ledger = open_ledger(
            parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        )
        yield ledger, proxy.cut
        proxy.cut()
    ledger.close()


def test_ping_reports_an_outage(
    outage: tuple[Ledger, Callable[[], None]], make_event: Callable[..., LedgerEvent]
) -> None:
    ledger, cut = outage
    ledger.ping()
    ledger.record_events([make_event("e-1")])

    cut()

    with pytest.raises(LedgerUnavailable):
        ledger.ping()
    with pytest.raises(LedgerUnavailable):
        ledger.events_for_case("case-1", since=T0)


def test_a_closed_ledger_is_unavailable(ledger: Ledger) -> None:
    ledger.ping()
    ledger.close()
    with pytest.raises(LedgerUnavailable, match="closed"):
        ledger.ping()
    with pytest.raises(LedgerUnavailable, match="closed"):
        ledger.events_for_case("case-1", since=T0)


@pytest.mark.parametrize("url", ["not a url", "mysql://db/tact", "sqlite://", "sqlite:///:memory:"])
def test_unusable_urls_are_rejected_with_advice(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        open_ledger(url)
