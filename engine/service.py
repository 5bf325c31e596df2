"""gRPC transport: the DecisionService servicer, error interceptor, health and reflection.

``create_server(settings)`` builds and starts a server (tests bind port 0) and returns it
with its port; :func:`engine.supervisor.serve` runs it as the ``tact serve`` process
(signals, graceful shutdown, reloads on SIGHUP, ``TACT_PROCESSES``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, cast

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from engine import telemetry
from engine.admin import AdminServicer
from engine.app import ServiceComponents, build_components
from engine.auth import build_authenticator
from engine.batching import GroupRunner
from engine.catalogue import CATALOGUE
from engine.convert import (
    check_request_from_proto,
    datetime_to_timestamp,
    decide_request_from_proto,
    events_from_proto,
    local_isoformat,
    treatment_values,
    utc_seconds_nanos,
)
from engine.errors import InvalidRequestError, StreamDrainedError
from engine.features import feature_schema_hash
from engine.interceptor import ErrorMappingInterceptor
from engine.ledger import inputs_digest
from engine.metrics import ServiceMetrics, count_reload
from engine.outcomes import DecisionOutcome
from engine.security import AuthInterceptor, check_exposure, server_credentials
from engine.settings import Settings
from engine.side_doors import SideDoors
from engine.state import CaseSnapshot, LedgerEvent
from engine.status import DeadlineExceededError, grpc_code, to_status
from engine.telemetry import AUTH_DENIED, TelemetryInterceptor
from engine.tracing import configured_provider, tracing_interceptors
from tact.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    decision_service_pb2,
    decision_service_pb2_grpc,
    types_pb2,
)

log = logging.getLogger(__name__)

SERVICE_NAME = decision_service_pb2.DESCRIPTOR.services_by_name["DecisionService"].full_name
ADMIN_SERVICE_NAME = admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name
RULES_HEALTH_NAME = "tact.rules"
EXPERIMENT_HEALTH_NAME = "tact.experiment"
"""NOT_SERVING while the last experiment edit failed to load or a guardrail rolled a
challenger back: the experiment is not running as its file says (decisions go on)."""
"""Health entry that is NOT_SERVING while the last rule-file edit failed to load."""
PROCESS_HEALTH_NAME = "tact.process"
"""Health entry for liveness probes: SERVING while the process serves, whatever the ledger
(a database outage must not get every replica restarted)."""


def decision_to_proto(
    outcome: DecisionOutcome, *, include_inputs: bool = False
) -> decision_service_pb2.Decision:
    # One constructor call, sub-messages as dicts where that saves building and copying one.
    snap = outcome.snapshot
    seconds, nanos = utc_seconds_nanos(outcome.decided_at)
    values: dict[str, Any] = {
        "decision_id": outcome.decision_id,
        "case_id": snap.case_id,
        "treatment": treatment_values(
            outcome.treatment,
            outcome.index,
            outstanding_minor=snap.outstanding_minor,
            currency=snap.currency,
        ),
        "policy": {
            "name": outcome.policy_name,
            "version": outcome.policy_version,
            "arm": outcome.arm,
            "propensity": outcome.propensity,
            "sampled": outcome.sampled,
        },
        "ruleset_version": outcome.ruleset_version,
        "rule_hits": [
            {"rule_id": h.rule_id, "message": h.message, "citation": h.citation}
            for h in outcome.rule_hits
        ],
        "explanation": outcome.explanation,
        "decided_at": {"seconds": seconds, "nanos": nanos},
        "dry_run": outcome.dry_run,
        "timezone": outcome.zone.key,
        "replayed": outcome.replayed,
    }
    if (send_at := outcome.send_at) is not None:
        seconds, nanos = utc_seconds_nanos(send_at)
        values["send_at"] = {"seconds": seconds, "nanos": nanos}
        values["send_at_local"] = local_isoformat(send_at, outcome.zone)
    if (next_review_at := outcome.next_review_at) is not None:
        seconds, nanos = utc_seconds_nanos(next_review_at)
        values["next_review_at"] = {"seconds": seconds, "nanos": nanos}
    if include_inputs and not outcome.replayed:  # a stored decision's inputs are not stored
        values["inputs"] = {
            "observation": outcome.observation.tolist(),
            "allowed_indices": np.flatnonzero(outcome.mask).tolist(),
            "feature_schema_hash": feature_schema_hash(),
            "catalogue_hash": CATALOGUE.content_hash,
        }
    return decision_service_pb2.Decision(**values)


def _error_decision(
    request: decision_service_pb2.DecideRequest | InvalidRequestError,
    exc: Exception,
    metrics: ServiceMetrics,
) -> Any:
    status = to_status(exc)
    metrics.failed(grpc_code(status).name, exc)
    if isinstance(request, InvalidRequestError):  # bytes that did not parse: no case id
        request = decision_service_pb2.DecideRequest()
    return decision_service_pb2.Decision(
        case_id=request.case.case_id,
        treatment=types_pb2.Treatment(action=types_pb2.ACTION_WAIT, catalogue_index=0),
        explanation=f"not decided, no contact: {status.message}",
        error=status,
        dry_run=request.dry_run,
    )


_END = object()
_DRAINED = object()
"""The decider's last item when the server's graceful shutdown began."""
_DRAIN_POLL_S = 0.05
"""How often an idle stream's decider looks whether the shutdown began."""


def _put(box: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` in ``box`` unless ``stop`` is set first; True if it was put."""
    while not stop.is_set():
        try:
            box.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _count_denied(method: str, reason: str) -> None:
    AUTH_DENIED.labels(reason).inc()


_Job = tuple[decision_service_pb2.DecideRequest, grpc.ServicerContext]


class DecisionServicer(decision_service_pb2_grpc.DecisionServiceServicer):
    """Thin transport layer: parse, call the pipeline, render. No business logic here."""

    def __init__(
        self, components: ServiceComponents, settings: Settings, metrics: ServiceMetrics
    ) -> None:
        self.components = components
        self.pipeline = components.pipeline
        self.settings = settings
        self.metrics = metrics
        self.draining = threading.Event()
        """Set by :meth:`drain`: streams take no more cases."""
        # Concurrent Decide calls are decided and committed together (group commit); a
        # lone call runs at once on its own thread. One case is never twice in a group.
        self.groups: GroupRunner[_Job, decision_service_pb2.Decision] = GroupRunner(
            self._decide_group,
            key=lambda job: job[0].case.case_id,
            max_group=settings.decide_group_size,
        )

    def drain(self) -> None:
        """The graceful shutdown began: every ``DecideStream`` delivers what it stored and
        ends with UNAVAILABLE (reason STREAM_DRAINED) instead of taking more cases."""
        self.draining.set()

    def _decide_group(
        self, jobs: Sequence[_Job]
    ) -> list[decision_service_pb2.Decision | Exception]:
        telemetry.GROUP_SIZE_BY("Decide").observe(len(jobs))
        return self._decide_batch([r for r, _ in jobs], [c for _, c in jobs])

    @staticmethod
    def _digest(request: decision_service_pb2.DecideRequest, now: datetime) -> str:
        """sha256 of the request's deterministic serialization with ``now`` set to ``now``
        and ``include_inputs`` cleared: the request's identity, under which a repeat of it
        gets the stored decision (``now`` is the server clock for a request without one,
        so such a request is never repeated; ``include_inputs`` only says how to answer).

        Spliced instead of serializing a pinned copy (same bytes, no copy): known fields
        are written in field-number order (case = 1, now = 2, dry_run = 3,
        include_inputs = 4), unknown ones after them, so the ``now`` field goes right
        after the case field, and include_inputs' two bytes after dry_run's.
        """
        data = request.SerializeToString(deterministic=True)
        cut = end = 0  # data[cut:end] is the request's own `now` field, if any
        for name in ("case", "now"):
            if request.HasField(name):  # one tag byte, the varint length, the message
                pos, length, shift = end + 1, 0, 0
                while True:
                    byte = data[pos]
                    pos += 1
                    length |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
                end = pos + length
            if name == "case":
                cut = end
        pinned = datetime_to_timestamp(now).SerializeToString()  # < 128 bytes: 1-byte length
        rest = data[end:]
        if request.include_inputs:  # b"\x20\x01", after dry_run's b"\x18\x01" if set
            at = 2 if request.dry_run else 0
            rest = rest[:at] + rest[at + 2 :]
        return inputs_digest(data[:cut] + bytes((0x12, len(pinned))) + pinned + rest)

    @staticmethod
    def _check_deadline(context: grpc.ServicerContext) -> None:
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceededError("deadline exceeded before the decision was stored")
        if not context.is_active():  # cancelled: nobody would learn of the decision
            raise DeadlineExceededError("the call was cancelled before the decision was stored")

    def Decide(
        self, request: decision_service_pb2.DecideRequest, context: grpc.ServicerContext
    ) -> decision_service_pb2.Decision:
        try:
            return self.groups.submit((request, context), timeout=context.time_remaining())
        except TimeoutError as exc:  # still queued when its deadline passed: nothing done
            raise DeadlineExceededError(
                "deadline exceeded while waiting for other decisions to be stored"
            ) from exc

    def DecideStream(
        self,
        request_iterator: Iterator[decision_service_pb2.DecideRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[decision_service_pb2.Decision]:
        # Three stages, so that receiving, deciding and sending overlap (gRPC's sync API
        # blocks on every message sent and received):
        #   reader thread → inbox → decider thread → outbox → this generator (sends).
        # The decider takes whatever has arrived as one batch (one policy call, one commit)
        # without waiting for more: works for pipelined and ping-pong clients alike. One
        # decider keeps the order. The outbox holds one batch, so at most three stored
        # batches (being sent, queued, being decided) wait for gRPC to take them.
        # When the server begins its graceful shutdown (drain()), the decider takes no more
        # cases; what it stored is still sent, then the stream ends UNAVAILABLE
        # (StreamDrainedError): the client resends the cases after the last decision.
        size = self.settings.stream_batch_size
        inbox: queue.Queue[Any] = queue.Queue(maxsize=4 * size)
        outbox: queue.Queue[Any] = queue.Queue(maxsize=1)
        stop = threading.Event()  # the client went away or the stream ended: stop deciding

        def read() -> None:
            try:
                while True:
                    item: decision_service_pb2.DecideRequest | InvalidRequestError
                    try:
                        item = next(request_iterator)
                    except StopIteration:
                        break
                    except InvalidRequestError as exc:  # bytes that are no DecideRequest:
                        item = exc  # that message's error decision, then read on
                    if not _put(inbox, item, stop):
                        return
            except Exception as exc:  # client cancelled: end the stream
                log.debug("DecideStream reader stopped: %s", exc)
            finally:
                _put(inbox, _END, stop)

        def decide() -> None:
            try:
                finished = False
                while not finished and not stop.is_set():
                    if self.draining.is_set():
                        _put(outbox, _DRAINED, stop)
                        return
                    arrived: list[Any] = []
                    try:  # waits a little at a time, to see a drain start
                        got = inbox.get(timeout=_DRAIN_POLL_S)
                    except queue.Empty:
                        continue
                    while True:  # what has arrived, up to `size`, never past the end
                        if got is _END:
                            finished = True
                            break
                        arrived.append(got)
                        if len(arrived) >= size:
                            break
                        try:
                            got = inbox.get_nowait()
                        except queue.Empty:
                            break
                    if arrived and self.draining.is_set():  # taken, not decided: resent
                        _put(outbox, _DRAINED, stop)
                        return
                    if arrived:
                        telemetry.GROUP_SIZE_BY("DecideStream").observe(len(arrived))
                        results = self._decide_batch(arrived, [context] * len(arrived))
                        if not _put(outbox, (arrived, results), stop):
                            return
                _put(outbox, _END, stop)
            except BaseException as exc:  # raised in the generator: the stream fails
                if not _put(outbox, exc, stop):
                    log.warning("DecideStream decider failed after the stream ended: %r", exc)

        try:
            threading.Thread(target=read, name="decide-stream-reader", daemon=True).start()
            threading.Thread(target=decide, name="decide-stream-decider", daemon=True).start()
            delivered = 0
            while (item := outbox.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                if item is _DRAINED:
                    raise StreamDrainedError(
                        f"the server is shutting down: this stream delivered {delivered} "
                        "decisions, each stored, and decided nothing after them; resend the "
                        "cases after the last decision received, on a new stream"
                    )
                batch, decided = item
                delivered += len(batch)
                yield from (
                    _error_decision(request, r, self.metrics) if isinstance(r, Exception) else r
                    for request, r in zip(batch, decided, strict=True)
                )
        finally:  # also when gRPC closes the generator (cancel, deadline, server stop)
            stop.set()  # a blocked reader or decider sees it within 0.1 s
            with contextlib.suppress(queue.Full):
                inbox.put_nowait(_END)  # a decider waiting for input ends (inbox empty)

    def _decide_batch(
        self,
        requests: Sequence[decision_service_pb2.DecideRequest | InvalidRequestError],
        contexts: Sequence[grpc.ServicerContext],
    ) -> list[decision_service_pb2.Decision | Exception]:
        """Decide requests together: one policy call per arm, one ledger transaction for
        all that are stored. Per request: its Decision, or the exception that stopped it
        (nothing of it stored; the caller turns it into a status or an error decision).
        A request may be the error of stream bytes that did not parse: its own result."""
        results: list[decision_service_pb2.Decision | Exception | None] = [None] * len(requests)
        cases: list[tuple[CaseSnapshot, list[LedgerEvent], datetime]] = []
        rows: list[int] = []
        parsed: list[decision_service_pb2.DecideRequest] = []
        for row, request in enumerate(requests):
            if isinstance(request, InvalidRequestError):
                results[row] = request
                continue
            try:
                cases.append(decide_request_from_proto(request))
            except Exception as exc:
                results[row] = exc
                continue
            rows.append(row)
            parsed.append(request)
        outcomes = self.pipeline.decide_many(cases, dry_run=False)
        returned: list[DecisionOutcome] = []  # counted once for the group
        to_store: list[tuple[DecisionOutcome, str]] = []
        stored_rows: list[int] = []
        stored_requests: list[decision_service_pb2.DecideRequest] = []
        for row, request, case, outcome in zip(rows, parsed, cases, outcomes, strict=True):
            if isinstance(outcome, Exception):
                results[row] = outcome
            elif request.dry_run:
                dry = replace(outcome, dry_run=True)
                results[row] = decision_to_proto(dry, include_inputs=request.include_inputs)
                returned.append(dry)
            else:
                try:  # checked before anything is written
                    self._check_deadline(contexts[row])
                except DeadlineExceededError as exc:
                    results[row] = exc
                    continue
                to_store.append((outcome, self._digest(request, case[2])))
                stored_rows.append(row)
                stored_requests.append(request)
        if to_store:
            try:
                # As stored: a contact that another reservation now blocks became a WAIT.
                stored = self.pipeline.persist(to_store)
            except Exception as exc:
                # Nothing of the group is reported as decided unless it was stored.
                for row in stored_rows:
                    results[row] = exc
            else:
                for row, request, outcome in zip(stored_rows, stored_requests, stored, strict=True):
                    try:
                        results[row] = decision_to_proto(
                            outcome, include_inputs=request.include_inputs
                        )
                    except Exception as exc:  # stored, but this caller gets an error
                        log.exception("decision %s stored but not rendered", outcome.decision_id)
                        results[row] = exc
                    else:
                        returned.append(outcome)
        self.metrics.decided(returned)
        assert all(r is not None for r in results)
        return cast(list[decision_service_pb2.Decision | Exception], results)

    def RecordEvents(
        self, request: decision_service_pb2.RecordEventsRequest, context: grpc.ServicerContext
    ) -> decision_service_pb2.RecordEventsResponse:
        parsed = events_from_proto(list(request.events))
        result = self.components.ledger.record_events(
            parsed.events, debtor_ids=parsed.debtor_ids, currencies=parsed.currencies
        )
        return decision_service_pb2.RecordEventsResponse(
            stored=result.stored,
            duplicates=result.duplicates,
            conflicts=result.conflicts,
            results=[asdict(outcome) for outcome in result.events],  # EventStatus = proto's
        )

    def CheckAction(
        self, request: decision_service_pb2.CheckActionRequest, context: grpc.ServicerContext
    ) -> decision_service_pb2.CheckActionResponse:
        snapshot, events, proposed, at = check_request_from_proto(request)
        # Tone and offer narrow the step only when the caller gave them (else: any).
        outcome = self.pipeline.check(
            snapshot,
            events,
            proposed,
            at=at,
            tone=proposed.tone if request.proposed.tone else None,
            offer=proposed.offer if request.proposed.offer.kind else None,
        )
        response = decision_service_pb2.CheckActionResponse(
            allowed=outcome.allowed,
            violations=[
                types_pb2.RuleHit(rule_id=h.rule_id, message=h.message, citation=h.citation)
                for h in outcome.violations
            ],
            ruleset_version=outcome.ruleset_version,
        )
        for hit in outcome.violations:
            telemetry.BLOCKED_STEPS_BY(hit.rule_id).inc()
        if outcome.next_allowed_at is not None:
            response.next_allowed_at.CopyFrom(datetime_to_timestamp(outcome.next_allowed_at))
        return response


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    components: ServiceComponents
    health: health.HealthServicer
    _stop_monitor: threading.Event
    decisions: DecisionServicer
    doors: SideDoors = field(default_factory=SideDoors)
    """The /metrics endpoint and the JSON/HTTP door, where configured."""

    def stop(self, grace: float | None = None) -> None:
        self._stop_monitor.set()
        self.health.enter_graceful_shutdown()
        self.decisions.drain()
        self.doors.close_http()
        self.server.stop(grace).wait()
        self.doors.close_metrics()
        self.components.close()


def _monitor(running: RunningServer, stop: threading.Event, period: float) -> None:
    """Keep health statuses true: ledger reachable, last rule edit loaded."""
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    while not stop.wait(period):
        running.health.set("", serving if running.components.healthy() else not_serving)
        running.health.set(SERVICE_NAME, serving if running.components.healthy() else not_serving)
        running.health.set(
            RULES_HEALTH_NAME,
            serving if running.components.rules.last_error is None else not_serving,
        )
        if running.components.experiment is not None:
            running.health.set(
                EXPERIMENT_HEALTH_NAME,
                serving if running.components.experiment.as_configured() else not_serving,
            )


def create_server(
    settings: Settings,
    components: ServiceComponents | None = None,
    *,
    tracer_provider: Any = None,
) -> RunningServer:
    """Build, bind and start a server; ``settings.port = 0`` binds a free port.

    Refuses settings that would expose it unsafely (:func:`engine.security.check_exposure`)
    before it opens anything. ``tracer_provider``: record spans there (tests)."""
    check_exposure(settings)
    credentials = server_credentials(settings)
    authenticator = build_authenticator(
        settings.auth_tokens_file,
        open_health=settings.auth_open_health,
        tokens_text=settings.auth_tokens,
    )
    components = components or build_components(settings)
    components.rules.on_reload = count_reload
    if tracer_provider is None:
        tracer_provider = configured_provider(settings)
    metrics = ServiceMetrics()
    interceptors: list[grpc.ServerInterceptor] = [
        *tracing_interceptors(tracer_provider),
        TelemetryInterceptor(tracing=tracer_provider is not None),
    ]
    if authenticator.enabled:  # without tokens every caller is anonymous: nothing to check
        interceptors.append(AuthInterceptor(authenticator, on_denied=_count_denied))
    interceptors.append(ErrorMappingInterceptor(metrics))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="tact-rpc"),
        interceptors=interceptors,
        # Several processes share one port only when asked to; otherwise a second server
        # on a taken port must fail loudly instead of silently splitting the traffic.
        options=[("grpc.so_reuseport", 1 if settings.processes > 1 else 0)],
    )
    decisions = DecisionServicer(components, settings, metrics)
    decision_service_pb2_grpc.add_DecisionServiceServicer_to_server(decisions, server)
    admin = AdminServicer(components, metrics)
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, ADMIN_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{settings.host}:{settings.port}"
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError:  # grpcio's "Failed to bind to address …"
        port = 0
    if port == 0:
        components.close()
        raise OSError(
            f"cannot listen on {address}: the port is taken or the address is not this "
            "machine's; choose another with TACT_PORT / TACT_HOST (or tact serve --port)"
        )
    try:
        doors = SideDoors.open(
            settings,
            decisions=decisions,
            admin=admin,
            authenticator=authenticator,
            tracer_provider=tracer_provider,
        )
    except BaseException:
        components.close()
        raise
    server.start()
    for name in ("", SERVICE_NAME, RULES_HEALTH_NAME, PROCESS_HEALTH_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if components.experiment is not None:
        health_servicer.set(EXPERIMENT_HEALTH_NAME, health_pb2.HealthCheckResponse.SERVING)
    stop = threading.Event()
    running = RunningServer(server, port, components, health_servicer, stop, decisions, doors)
    threading.Thread(
        target=_monitor, args=(running, stop, 2.0), name="tact-health", daemon=True
    ).start()
    return running
