"""Service commands of the ``tact`` CLI: serve, decide, check, events, erase-debtor."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)

DEFAULT_SERVER = "127.0.0.1:50051"
ServerOption = Annotated[str, typer.Option("--server", help="tact gRPC address HOST:PORT.")]
CaseOption = Annotated[
    Path,
    typer.Option(
        "--case", exists=True, dir_okay=False, help="Case file: protobuf JSON of tact.v1.Case."
    ),
]
AtOption = Annotated[
    str | None, typer.Option("--at", help="Instant, ISO 8601 with offset (default: now).")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _parse_at(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        raise _fail(f"--at {at!r} is not ISO 8601; use e.g. 2026-11-27T09:30:00+01:00") from None
    if parsed.tzinfo is None:
        raise _fail(f"--at {at!r} has no UTC offset; add one, e.g. {at}+00:00")
    return parsed.astimezone(UTC)


def _load_json_message(path: Path, message: Any) -> Any:
    from google.protobuf import json_format

    try:
        json_format.Parse(path.read_text(), message)
    except (json_format.ParseError, ValueError) as exc:
        raise _fail(f"{path}: not a valid {message.DESCRIPTOR.full_name} JSON: {exc}") from None
    return message


def call_service(server: str, method: str, request: Any, *, admin: bool = False) -> Any:
    """Call ``method`` of DecisionService (or AdminService) at ``server``; exit 2 on error."""
    import grpc
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    from tact.v1 import admin_service_pb2_grpc, decision_service_pb2_grpc

    with grpc.insecure_channel(server) as channel:
        stub = (
            admin_service_pb2_grpc.AdminServiceStub(channel)
            if admin
            else decision_service_pb2_grpc.DecisionServiceStub(channel)
        )
        # A server with TACT_AUTH_TOKENS_FILE wants a bearer token: TACT_TOKEN carries it.
        token = os.environ.get("TACT_TOKEN")
        metadata = [("authorization", f"Bearer {token}")] if token else None
        try:
            return getattr(stub, method)(request, timeout=60 if admin else 10, metadata=metadata)
        except grpc.RpcError as err:
            lines = [f"{err.code().name}: {err.details()}"]
            status = rpc_status.from_call(cast(grpc.Call, err))
            for detail in status.details if status else []:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    lines += [f"  {v.field}: {v.description}" for v in bad.field_violations]
            if err.code() == grpc.StatusCode.UNAVAILABLE and "connect" in (err.details() or ""):
                lines.append(f"  is the service running? start it with `make serve` ({server})")
            raise _fail("\n".join(lines)) from None


def print_json(message: Any) -> None:
    from google.protobuf import json_format

    # Every field, defaults included: `"allowed": false` is the answer to "may I call?".
    typer.echo(
        json_format.MessageToJson(message, indent=2, always_print_fields_with_no_presence=True)
    )


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Override TACT_PORT.")] = None,
    host: Annotated[str | None, typer.Option(help="Override TACT_HOST.")] = None,
) -> None:
    """Start the gRPC decision service (settings from TACT_* variables)."""
    from pydantic import ValidationError

    from engine.compliance.errors import ComplianceError
    from engine.errors import TactError
    from engine.experiments.errors import ExperimentError
    from engine.logs import configure_logging
    from engine.settings import Settings
    from engine.supervisor import serve as run

    overrides: dict[str, Any] = {}
    if port is not None:
        overrides["port"] = port
    if host is not None:
        overrides["host"] = host
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:  # a TACT_* variable that does not parse
        problems = "; ".join(_setting_problem(e) for e in exc.errors())
        raise _fail(f"tact serve: {problems}") from None
    configure_logging(settings.log_level, settings.log_format)
    try:
        run(settings)
    except OSError as exc:  # cannot listen: one line that says what to change
        console.print(f"[red]tact serve: {escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    except (TactError, ComplianceError, ExperimentError) as exc:
        # A setting that names something unusable (a policy, the rules, tokens, an
        # exposed port without them): its message says what to change.
        raise _fail(f"tact serve: {exc}") from None


def _setting_problem(error: Any) -> str:
    """``TACT_PORT: Input should be a valid integer … (got 'abc')`` for one pydantic error."""
    name = "TACT_" + "_".join(str(part) for part in error["loc"]).upper()
    return f"{name}: {error['msg']} (got {error.get('input')!r})"


@app.command()
def decide(
    case: CaseOption,
    at: AtOption = None,
    server: ServerOption = DEFAULT_SERVER,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Persist nothing.")] = False,
) -> None:
    """Ask the service for the next step of a case; prints the Decision as JSON."""
    from engine.convert import datetime_to_timestamp
    from tact.v1 import case_pb2, decision_service_pb2

    request = decision_service_pb2.DecideRequest(
        case=_load_json_message(case, case_pb2.Case()), dry_run=dry_run
    )
    if at is not None:
        request.now.CopyFrom(datetime_to_timestamp(_parse_at(at)))
    print_json(call_service(server, "Decide", request))


@app.command()
def check(
    case: CaseOption,
    channel: Annotated[str, typer.Option(help="EMAIL, SMS, LETTER, PHONE or PUSH.")],
    action: Annotated[str, typer.Option(help="e.g. REMINDER, AGENT_CALL, LEGAL_ESCALATION.")],
    at: AtOption = None,
    tone: Annotated[str | None, typer.Option(help="EMPATHETIC, NEUTRAL or FIRM.")] = None,
    server: ServerOption = DEFAULT_SERVER,
) -> None:
    """May this step be taken at that time? Prints allowed, violations, next allowed time."""
    from engine.convert import datetime_to_timestamp
    from tact.v1 import case_pb2, decision_service_pb2, types_pb2

    def enum_value(enum: Any, prefix: str, value: str) -> Any:
        name = f"{prefix}_{value.upper()}"
        try:
            return int(enum.Value(name))
        except ValueError:
            choices = [n.removeprefix(prefix + "_") for n in enum.DESCRIPTOR.values_by_name][1:]
            raise _fail(f"unknown {prefix.lower()} {value!r}; choose one of {choices}") from None

    proposed = types_pb2.Treatment(
        action=enum_value(types_pb2.Action, "ACTION", action),
        channel=enum_value(types_pb2.Channel, "CHANNEL", channel),
        tone=enum_value(types_pb2.Tone, "TONE", tone) if tone else None,
    )
    request = decision_service_pb2.CheckActionRequest(
        case=_load_json_message(case, case_pb2.Case()),
        proposed=proposed,
        at=datetime_to_timestamp(_parse_at(at)),
    )
    print_json(call_service(server, "CheckAction", request))


@app.command()
def events(
    file: Annotated[
        Path,
        typer.Option("--file", exists=True, dir_okay=False, help="RecordEventsRequest JSON."),
    ],
    server: ServerOption = DEFAULT_SERVER,
) -> None:
    """Record what happened (contacts, payments, opt-outs...). Idempotent by event_id."""
    from google.protobuf import json_format

    from tact.v1 import decision_service_pb2

    try:
        raw = json.loads(file.read_text())
        # A bare list of events is accepted as well as a RecordEventsRequest object.
        request = json_format.ParseDict(
            {"events": raw} if isinstance(raw, list) else raw,
            decision_service_pb2.RecordEventsRequest(),
        )
    except (ValueError, json_format.ParseError) as exc:
        raise _fail(f"{file}: not a valid tact.v1.RecordEventsRequest JSON: {exc}") from None
    print_json(call_service(server, "RecordEvents", request))


@app.command("erase-debtor")
def erase_debtor(
    debtor_id: Annotated[str, typer.Argument(help="Pseudonymous debtor id.")],
    reference: Annotated[
        str,
        typer.Option(
            "--reference", help="The erasure request's ticket or reference, for the audit row."
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")
    ] = False,
) -> None:
    """GDPR Art. 17: delete a debtor's events, decisions, outcomes and experiment tags from
    the ledger at TACT_DATABASE_URL (default sqlite:///var/tact.db), audited in
    erasure_audit. A running service offers AdminService.EraseDebtor too."""
    import getpass

    from engine.ledger import open_ledger
    from engine.ledger.erasure import erase_debtor_audited
    from engine.settings import Settings

    if not yes:
        typer.confirm(f"Erase every record of debtor {debtor_id!r}?", abort=True)
    ledger = open_ledger(Settings().database_url)
    try:
        receipt = erase_debtor_audited(
            ledger,
            debtor_id=debtor_id,
            requested_by=f"cli:{getpass.getuser()}",
            via="cli",
            reference=reference,
        )
    finally:
        ledger.close()
    console.print(
        f"erased {receipt.rows_deleted} rows of debtor {debtor_id} (audit {receipt.audit_id})"
    )


@app.command()
def status(server: ServerOption = DEFAULT_SERVER) -> None:
    """Ruleset, policies, ledger health and decision counters of a running replica."""
    from tact.v1 import admin_service_pb2

    print_json(call_service(server, "GetStatus", admin_service_pb2.GetStatusRequest(), admin=True))
