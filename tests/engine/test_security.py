"""TLS, mutual TLS and bearer tokens with scopes, against a real server on port 0 and real
channels; certificates and tokens are made by the test."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from engine.auth import TokenFileError, parse_tokens
from engine.convert import datetime_to_timestamp
from engine.security import InsecureConfigurationError, check_exposure, is_loopback
from engine.service import RunningServer, create_server
from tact.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    decision_service_pb2,
    decision_service_pb2_grpc,
)
from tests.support.certificates import TestCA
from tests.support.serving import NOW, example_case, example_events, test_settings, write_tokens

CASE = example_case()
TOKENS = {"core": "tok-core-1", "events": "tok-events-1", "ops": "tok-ops-1"}
settings = test_settings


def decide_request() -> decision_service_pb2.DecideRequest:
    return decision_service_pb2.DecideRequest(
        case=CASE, now=datetime_to_timestamp(NOW), dry_run=True
    )


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.yaml"
    write_tokens(
        path,
        {
            "core": (TOKENS["core"], ["decide"]),
            "events": (TOKENS["events"], ["events"]),
            "ops": (TOKENS["ops"], ["admin"]),
        },
    )
    return path


@pytest.fixture
def authed(tmp_path: Path, tokens_file: Path) -> Iterator[RunningServer]:
    server = create_server(settings(tmp_path, auth_tokens_file=tokens_file))
    yield server
    server.stop(0)


def _reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info.reason


def test_calls_need_a_known_token_with_the_method_scope(
    authed: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tact.access")
    with grpc.insecure_channel(f"127.0.0.1:{authed.port}") as channel:
        decisions = decision_service_pb2_grpc.DecisionServiceStub(channel)
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        cases = [
            (lambda md: decisions.Decide(decide_request(), timeout=10, metadata=md)),
            (
                lambda md: list(
                    decisions.DecideStream(iter([decide_request()]), timeout=10, metadata=md)
                )
            ),
        ]
        for call in cases:
            with pytest.raises(grpc.RpcError) as missing:
                call(None)
            assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert _reason(missing.value) == "TOKEN_MISSING"
            with pytest.raises(grpc.RpcError) as unknown:
                call(bearer("not-a-token"))
            assert unknown.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert _reason(unknown.value) == "TOKEN_UNKNOWN"
            with pytest.raises(grpc.RpcError) as wrong_scope:
                call(bearer(TOKENS["events"]))
            assert wrong_scope.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "lacks scope 'decide'" in (wrong_scope.value.details() or "")
            call(bearer(TOKENS["core"]))  # the right scope: answered

        with pytest.raises(grpc.RpcError) as malformed:
            decisions.Decide(
                decide_request(), timeout=10, metadata=[("authorization", TOKENS["core"])]
            )
        assert _reason(malformed.value) == "TOKEN_MALFORMED"

        events = example_events()
        with pytest.raises(grpc.RpcError) as core_records:
            decisions.RecordEvents(events, timeout=10, metadata=bearer(TOKENS["core"]))
        assert core_records.value.code() == grpc.StatusCode.PERMISSION_DENIED
        decisions.RecordEvents(events, timeout=10, metadata=bearer(TOKENS["events"]))

        for token in (TOKENS["core"], TOKENS["events"]):
            with pytest.raises(grpc.RpcError) as not_admin:
                admin.GetStatus(
                    admin_service_pb2.GetStatusRequest(), timeout=10, metadata=bearer(token)
                )
            assert not_admin.value.code() == grpc.StatusCode.PERMISSION_DENIED
        status = admin.GetStatus(
            admin_service_pb2.GetStatusRequest(), timeout=10, metadata=bearer(TOKENS["ops"])
        )
        assert status.ledger_ok

        callers = {(r.rpc, r.status, r.caller) for r in caplog.records if hasattr(r, "rpc")}
        assert ("AdminService/GetStatus", "OK", "ops") in callers
        assert ("DecisionService/Decide", "UNAUTHENTICATED", "anonymous") in callers

        # Health stays open (load balancers and probes carry no token).
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1


def test_health_can_be_closed_too(tmp_path: Path, tokens_file: Path) -> None:
    server = create_server(settings(tmp_path, auth_tokens_file=tokens_file, auth_open_health=False))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            response = health.Check(
                health_pb2.HealthCheckRequest(), timeout=5, metadata=bearer(TOKENS["core"])
            )
            assert response.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop(0)


def test_tokens_rotate_without_restart(authed: RunningServer, tokens_file: Path) -> None:
    new = "tok-core-2"
    with grpc.insecure_channel(f"127.0.0.1:{authed.port}") as channel:
        stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
        stub.Decide(decide_request(), timeout=10, metadata=bearer(TOKENS["core"]))
        write_tokens(tokens_file, {"core": (new, ["decide"])})
        os.utime(tokens_file, ns=(time.time_ns(), time.time_ns() + 10**9))
        deadline = time.monotonic() + 5
        while True:  # re-read within about a second
            try:
                stub.Decide(decide_request(), timeout=10, metadata=bearer(TOKENS["core"]))
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAUTHENTICATED
                break
            assert time.monotonic() < deadline, "the revoked token still works after 5 s"
            time.sleep(0.2)
        stub.Decide(decide_request(), timeout=10, metadata=bearer(new))

        # A broken edit keeps the last good tokens.
        tokens_file.write_text("tokens: [{name: x, sha256: plain-token, scopes: [decide]}]\n")
        os.utime(tokens_file, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
        time.sleep(1.2)
        stub.Decide(decide_request(), timeout=10, metadata=bearer(new))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tokens: [{name: a, sha256: hunter2, scopes: [decide]}]", "not the token itself"),
        (f"tokens: [{{name: a, sha256: {'a' * 64}, scopes: [root]}}]", "unknown scope"),
        (f"tokens: [{{name: a, sha256: {'a' * 64}, scopes: []}}]", "'scopes' must be a list"),
        ("tokens: {a: 1}", "list 'tokens"),
        (
            f"tokens: [{{name: a, sha256: {'a' * 64}, scopes: [admin]}},"
            f" {{name: a, sha256: {'b' * 64}, scopes: [admin]}}]",
            "used twice",
        ),
    ],
)
def test_a_bad_tokens_file_is_refused_saying_what_to_fix(text: str, expected: str) -> None:
    with pytest.raises(TokenFileError, match=expected):
        parse_tokens(text, "tokens.yaml")


def test_a_server_reachable_from_elsewhere_needs_auth_or_an_explicit_opt_out(
    tmp_path: Path, tokens_file: Path
) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    with pytest.raises(InsecureConfigurationError, match="TACT_ALLOW_UNAUTHENTICATED"):
        create_server(settings(tmp_path, host="0.0.0.0"))
    check_exposure(settings(tmp_path, host="0.0.0.0", auth_tokens_file=tokens_file))
    check_exposure(settings(tmp_path, host="0.0.0.0", allow_unauthenticated=True))
    with pytest.raises(InsecureConfigurationError, match="both TACT_TLS_CERT and TACT_TLS_KEY"):
        check_exposure(settings(tmp_path, tls_cert=tmp_path / "x.crt"))


def test_tls_serves_tls_clients_only(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "pki")
    server_cert = ca.issue("server", server=True)
    server = create_server(settings(tmp_path, tls_cert=server_cert.cert, tls_key=server_cert.key))
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=ca.cert_path.read_bytes())
        with grpc.secure_channel(f"localhost:{server.port}", credentials) as channel:
            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            assert stub.Decide(decide_request(), timeout=10).case_id == CASE.case_id
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as plain:
            with pytest.raises(grpc.RpcError) as info:
                decision_service_pb2_grpc.DecisionServiceStub(plain).Decide(
                    decide_request(), timeout=5
                )
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(0)


def test_mutual_tls_needs_a_client_certificate_of_the_client_ca(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "pki")
    other_ca = TestCA(tmp_path / "other", name="other CA")
    server_cert = ca.issue("server", server=True)
    server = create_server(
        settings(
            tmp_path,
            tls_cert=server_cert.cert,
            tls_key=server_cert.key,
            tls_client_ca=ca.cert_path,
        )
    )
    roots = ca.cert_path.read_bytes()

    def decide(client: tuple[bytes, bytes] | None) -> decision_service_pb2.Decision:
        key, chain = (client[1], client[0]) if client else (None, None)
        credentials = grpc.ssl_channel_credentials(roots, private_key=key, certificate_chain=chain)
        with grpc.secure_channel(f"localhost:{server.port}", credentials) as channel:
            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            return stub.Decide(decide_request(), timeout=5)

    try:
        assert decide(ca.issue("client", server=False).pem()).case_id == CASE.case_id
        for client in (None, other_ca.issue("stranger", server=False).pem()):
            with pytest.raises(grpc.RpcError) as info:
                decide(client)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(0)


def test_tokens_from_the_environment(tmp_path: Path, tokens_file: Path) -> None:
    text = tokens_file.read_text()
    server = create_server(settings(tmp_path, host="0.0.0.0", auth_tokens=text))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.Decide(decide_request(), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub.Decide(decide_request(), timeout=10, metadata=bearer(TOKENS["core"]))
    finally:
        server.stop(0)
    with pytest.raises(TokenFileError, match="not both"):
        create_server(settings(tmp_path, auth_tokens=text, auth_tokens_file=tokens_file))
