"""The JSON/HTTP door with a plain HTTP client (urllib): Connect unary calls, the same
auth, errors in Connect's shape with google.rpc details, binary protobuf too."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from engine.service import RunningServer
from engine.settings import REPO_ROOT
from tact.v1 import case_pb2, decision_service_pb2
from tests.support.serving import start, write_tokens

CASE_JSON = json.loads((REPO_ROOT / "examples" / "cases" / "se-telecom-early.json").read_text())
CORE, OPS = "tok-http-core", "tok-http-ops"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    tokens = write_tokens(
        tmp_path / "tokens.yaml", {"core": (CORE, ["decide", "events"]), "ops": (OPS, ["admin"])}
    )
    server = start(tmp_path, http_port=0, auth_tokens_file=tokens)
    yield server
    server.stop(0)


def post(
    running: RunningServer,
    path: str,
    body: bytes,
    *,
    token: str | None = CORE,
    content_type: str = "application/json",
) -> tuple[int, bytes, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.doors.http_port}{path}", data=body, method="POST"
    )
    request.add_header("Content-Type", content_type)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers["Content-Type"]


def post_json(running: RunningServer, path: str, payload: Any, **kw: Any) -> tuple[int, Any]:
    status, body, _ = post(running, path, json.dumps(payload).encode(), **kw)
    return status, json.loads(body)


DECIDE = "/tact.v1.DecisionService/Decide"


def _calls(rpc: str, code: str) -> float:
    return REGISTRY.get_sample_value("tact_rpcs_total", {"rpc": rpc, "code": code}) or 0.0


def test_decide_over_http_json(running: RunningServer) -> None:
    before = _calls("DecisionService/Decide", "OK")
    payload = {"case": CASE_JSON, "now": "2026-11-26T09:00:00Z", "dryRun": True}
    status, decision = post_json(running, DECIDE, payload)
    assert status == 200, decision
    assert decision["caseId"] == CASE_JSON["caseId"] and decision["dryRun"] is True
    assert decision["rulesetVersion"] and decision["treatment"]["action"].startswith("ACTION_")
    assert _calls("DecisionService/Decide", "OK") == before + 1  # the same metrics


def test_binary_protobuf_too(running: RunningServer) -> None:
    from google.protobuf import json_format

    request = decision_service_pb2.DecideRequest(
        case=json_format.ParseDict(CASE_JSON, case_pb2.Case()), dry_run=True
    )
    status, body, content_type = post(
        running, DECIDE, request.SerializeToString(), content_type="application/proto"
    )
    assert status == 200 and content_type == "application/proto"
    assert decision_service_pb2.Decision.FromString(body).case_id == CASE_JSON["caseId"]


def test_auth_is_the_grpc_servers(running: RunningServer) -> None:
    payload = {"case": CASE_JSON, "dryRun": True}
    status, error = post_json(running, DECIDE, payload, token=None)
    assert status == 401 and error["code"] == "unauthenticated"
    assert error["details"][0]["type"] == "google.rpc.ErrorInfo"
    assert error["details"][0]["debug"]["reason"] == "TOKEN_MISSING"
    status, error = post_json(running, DECIDE, payload, token="wrong")
    assert status == 401 and error["details"][0]["debug"]["reason"] == "TOKEN_UNKNOWN"
    status, error = post_json(running, DECIDE, payload, token=OPS)
    assert status == 403 and error["code"] == "permission_denied"
    status, error = post_json(running, "/tact.v1.AdminService/GetStatus", {}, token=CORE)
    assert status == 403
    status, answer = post_json(running, "/tact.v1.AdminService/GetStatus", {}, token=OPS)
    assert status == 200 and answer["ledgerOk"] is True


def test_errors_have_connects_shape_and_grpcs_details(running: RunningServer) -> None:
    status, body, content_type = post(running, DECIDE, b"{not json")
    error = json.loads(body)
    assert status == 400 and content_type == "application/json"
    assert error["code"] == "invalid_argument"
    assert "tact.v1.DecideRequest" in error["message"]

    bad = {"case": {**CASE_JSON, "country": "sweden"}, "dryRun": True}
    status, error = post_json(running, DECIDE, bad)
    assert status == 400 and error["code"] == "invalid_argument"
    violations = error["details"][0]["debug"]["fieldViolations"]
    assert error["details"][0]["type"] == "google.rpc.BadRequest"
    assert violations[0]["field"] == "case.country"

    unknown = {"case": {**CASE_JSON, "country": "ZZ"}, "dryRun": True}
    status, error = post_json(running, DECIDE, unknown)
    assert status == 400 and error["code"] == "failed_precondition"

    status, error = post_json(running, "/tact.v1.DecisionService/DecideStream", {})
    assert status == 501 and "gRPC only" in error["message"]
    status, _, _ = post(running, DECIDE, b"{}", content_type="text/plain")
    assert status == 415


def test_erasure_over_http_is_audited_as_such(running: RunningServer) -> None:
    from engine.ledger.erasure import erasures_of

    payload = {"debtorId": "d-http-1", "reference": "DSR-HTTP"}
    status, answer = post_json(running, "/tact.v1.AdminService/EraseDebtor", payload, token=OPS)
    assert status == 200 and answer["auditId"]
    audit = erasures_of(running.components.ledger, "d-http-1")
    assert [(a.via, a.requested_by, a.reference) for a in audit] == [("http", "ops", "DSR-HTTP")]


def test_a_body_without_length_is_refused(running: RunningServer) -> None:
    import socket

    body = b'9\r\n{"case": \r\n3\r\n{}}\r\n0\r\n\r\n'
    head = (
        f"POST {DECIDE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {CORE}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", running.doors.http_port or 0), 10) as sock:
        sock.sendall(head + body)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 411 ")
