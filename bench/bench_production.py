"""Production settings benchmark: what authentication, TLS, the JSON/HTTP door and a
PostgreSQL ledger cost on one ``Decide``, each as a ratio to plain gRPC on SQLite
measured in the same run (these machines are shared and noisy).

    .venv/bin/python bench/bench_production.py [--calls 400] [--rounds 5] [--policy ladder]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test] [--json out.json]

Five servers run side by side in this process (all loaded before measuring): plain
(SQLite), bearer tokens, TLS, the HTTP door, PostgreSQL (a fresh schema, dropped at the
end; left out, saying why, when the database does not answer). The client calls them in
interleaved rounds, one call at a time, each call a fresh case (persisted, not a dry
run), and reports p50 and p99 per variant and each p50 over the plain p50.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402, F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import grpc  # noqa: E402
import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from engine.auth import hash_token  # noqa: E402
from engine.service import RunningServer, create_server  # noqa: E402
from engine.settings import Settings  # noqa: E402
from tact.v1 import case_pb2, decision_service_pb2, decision_service_pb2_grpc  # noqa: E402

TOKEN = "bench-token"
CASE = json_format.Parse(
    (REPO / "examples" / "cases" / "se-telecom-early.json").read_text(), case_pb2.Case()
)


def _request() -> decision_service_pb2.DecideRequest:
    case = case_pb2.Case()
    case.CopyFrom(CASE)
    case.case_id = f"bench-{uuid.uuid4().hex[:12]}"
    case.debtor_id = f"d-{case.case_id}"
    return decision_service_pb2.DecideRequest(case=case)


@contextlib.contextmanager
def _postgres_schema(url: str) -> Iterator[str | None]:
    schema = f"tact_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.SQLAlchemyError as exc:
        print(f"PostgreSQL left out: {exc.__class__.__name__} at {url}")
        yield None
        return
    try:
        yield (
            sa.engine.make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _tls_files(directory: Path) -> tuple[Path, Path, bytes]:
    sys.path.insert(0, str(REPO))
    from tests.support.certificates import TestCA

    ca = TestCA(directory / "pki")
    issued = ca.issue("server", server=True)
    return issued.cert, issued.key, ca.cert_path.read_bytes()


Call = Callable[[], Any]


def _grpc_call(channel: grpc.Channel, metadata: Any = None) -> Call:
    stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
    return lambda: stub.Decide(_request(), timeout=30, metadata=metadata)


def _http_call(port: int) -> Call:
    """One kept-alive HTTP/1.1 connection, as a client with a connection pool has."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}

    def call() -> Any:
        body = json_format.MessageToJson(_request()).encode()
        connection.request("POST", "/tact.v1.DecisionService/Decide", body, headers)
        response = connection.getresponse()
        data = response.read()
        assert response.status == 200, data
        return data

    return call


def _time(call: Call, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--policy", default="ladder")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name, _postgres_schema(args.postgres) as pg_url:
        tmp = Path(tmp_name)
        tokens = tmp / "tokens.yaml"
        tokens.write_text(
            f"tokens: [{{name: bench, sha256: {hash_token(TOKEN)}, scopes: [decide]}}]\n"
        )
        cert, key, roots = _tls_files(tmp)

        def settings(name: str, **fields: Any) -> Settings:
            fields.setdefault("database_url", f"sqlite:///{tmp / name}.db")
            return Settings(port=0, rules_watch=False, policy=args.policy, **fields)

        servers: dict[str, RunningServer] = {
            "plain": create_server(settings("plain")),
            "tokens": create_server(settings("tokens", auth_tokens_file=tokens)),
            "tls": create_server(settings("tls", tls_cert=cert, tls_key=key)),
            "http door": create_server(settings("http", http_port=0)),
        }
        if pg_url is not None:
            servers["postgres"] = create_server(settings("pg", database_url=pg_url))
        channels = {
            "plain": grpc.insecure_channel(f"127.0.0.1:{servers['plain'].port}"),
            "tokens": grpc.insecure_channel(f"127.0.0.1:{servers['tokens'].port}"),
            "tls": grpc.secure_channel(
                f"localhost:{servers['tls'].port}", grpc.ssl_channel_credentials(roots)
            ),
        }
        calls: dict[str, Call] = {
            "plain": _grpc_call(channels["plain"]),
            "tokens": _grpc_call(channels["tokens"], [("authorization", f"Bearer {TOKEN}")]),
            "tls": _grpc_call(channels["tls"]),
            "http door": _http_call(servers["http door"].doors.http_port or 0),
        }
        if "postgres" in servers:
            channels["postgres"] = grpc.insecure_channel(f"127.0.0.1:{servers['postgres'].port}")
            calls["postgres"] = _grpc_call(channels["postgres"])
        try:
            for call in calls.values():  # warm-up: connections, first decisions
                _time(call, 50)
            samples: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(args.rounds):
                for name, call in calls.items():
                    samples[name] += _time(call, args.calls)
        finally:
            for channel in channels.values():
                channel.close()
            for server in servers.values():
                server.stop(0)

    plain_p50 = float(np.percentile(samples["plain"], 50))
    results = {}
    print(f"Decide, one call at a time, {args.rounds} x {args.calls} calls per variant")
    print(f"{'variant':<10} {'p50 µs':>9} {'p99 µs':>9} {'p50 / plain':>12}")
    for name, values in samples.items():
        p50, p99 = float(np.percentile(values, 50)), float(np.percentile(values, 99))
        results[name] = {"p50_us": p50 * 1e6, "p99_us": p99 * 1e6, "ratio": p50 / plain_p50}
        print(f"{name:<10} {p50 * 1e6:>9.0f} {p99 * 1e6:>9.0f} {p50 / plain_p50:>12.2f}")
    if "postgres" in results:
        print(f"PostgreSQL / SQLite p50: {results['postgres']['ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
