"""Debtor erasure through AdminService.EraseDebtor and `tact erase-debtor`: the rows go,
the audit stays (who, when, how, how much; the debtor id only as its sha256)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.convert import datetime_to_timestamp
from engine.ledger import open_ledger
from engine.ledger.erasure import erasures_of
from engine.service import RunningServer
from tact.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    decision_service_pb2,
    decision_service_pb2_grpc,
    types_pb2,
)
from tests.support.serving import NOW, example_case, example_events, start, write_tokens

CASE = example_case()
EVENTS = example_events()
OPS, CORE = "tok-ops", "tok-core"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    tokens = write_tokens(
        tmp_path / "tokens.yaml",
        {"dpo-desk": (OPS, ["admin"]), "core": (CORE, ["decide", "events"])},
    )
    server = start(tmp_path, auth_tokens_file=tokens)
    yield server
    server.stop(0)


def _md(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_erase_debtor_rpc_deletes_the_rows_and_audits_who_asked(running: RunningServer) -> None:
    debtor = CASE.debtor_id
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        decisions = decision_service_pb2_grpc.DecisionServiceStub(channel)
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        decisions.RecordEvents(EVENTS, timeout=10, metadata=_md(CORE))
        decided = decisions.Decide(
            decision_service_pb2.DecideRequest(case=CASE, now=datetime_to_timestamp(NOW)),
            timeout=10,
            metadata=_md(CORE),
        )
        assert running.components.ledger.get_decision(decided.decision_id) is not None

        request = admin_service_pb2.EraseDebtorRequest(debtor_id=debtor, reference="DSR-42")
        with pytest.raises(grpc.RpcError) as denied:
            admin.EraseDebtor(request, timeout=10, metadata=_md(CORE))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        receipt = admin.EraseDebtor(request, timeout=10, metadata=_md(OPS))
        # 3 events, the outcome roll-up, the decision and its contact reservation if any
        reserved = int(decided.treatment.action != types_pb2.ACTION_WAIT)
        assert receipt.rows_deleted == 5 + reserved
        assert receipt.cases == 1 and receipt.audit_id
        assert running.components.ledger.get_decision(decided.decision_id) is None
        assert (
            running.components.ledger.events_for_case(
                CASE.case_id, since=datetime(2000, 1, 1, tzinfo=UTC)
            )
            == []
        )

        again = admin.EraseDebtor(request, timeout=10, metadata=_md(OPS))
        assert again.rows_deleted == 0 and again.audit_id != receipt.audit_id

        with pytest.raises(grpc.RpcError) as bad:
            admin.EraseDebtor(
                admin_service_pb2.EraseDebtorRequest(debtor_id="", reference=""),
                timeout=10,
                metadata=_md(OPS),
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "debtor_id" in (bad.value.details() or "")

    audit = erasures_of(running.components.ledger, debtor)
    assert [(a.rows_deleted, a.requested_by, a.via, a.reference) for a in audit] == [
        (5 + reserved, "dpo-desk", "grpc", "DSR-42"),
        (0, "dpo-desk", "grpc", "DSR-42"),
    ]
    assert audit[0].debtor_id_sha256 == hashlib.sha256(debtor.encode()).hexdigest()
    assert audit[0].erased_at.tzinfo is not None


def test_cli_erasure_is_audited_by_the_same_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ledger = open_ledger(url)
    try:
        from engine.convert import events_from_proto

        parsed = events_from_proto(list(EVENTS.events))
        ledger.record_events(
            parsed.events, debtor_ids=parsed.debtor_ids, currencies=parsed.currencies
        )
    finally:
        ledger.close()
    monkeypatch.setenv("TACT_DATABASE_URL", url)
    # No erasure without the request's reference for the audit row.
    refused = CliRunner().invoke(app, ["erase-debtor", "d-se-1001", "--yes"])
    assert refused.exit_code == 2 and "--reference" in refused.output
    result = CliRunner().invoke(app, ["erase-debtor", "d-se-1001", "--yes", "--reference", "DSR-7"])
    assert result.exit_code == 0, result.output
    ledger = open_ledger(url)
    try:
        audit = erasures_of(ledger, "d-se-1001")
    finally:
        ledger.close()
    assert len(audit) == 1
    assert audit[0].via == "cli" and audit[0].reference == "DSR-7"
    assert audit[0].requested_by.startswith("cli:") and audit[0].rows_deleted == 4
