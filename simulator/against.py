"""The simulator as a core collection system: ``tact simulate --against HOST:PORT``.

Simulated debtors are sent to a running tact through its public gRPC API. Each simulated
day, for every debtor still in collection:

1. what happened since the last day (the simulator's ledger events: attempts, deliveries,
   responses, payments, promises, plans, complaints, opt-outs…) goes to ``RecordEvents``,
   each outcome tied to the service's decision by ``decision_id``;
2. the case (its snapshot, no history: the service reads its own ledger) goes to
   ``DecideStream`` with ``now`` = the simulator's decision instant;
3. the decided treatment is played out in the simulator at its send slot.

Debtors come in batches. By default a batch plays to its end before the next one starts
(the fastest way through N debtors). With ``arrivals_per_day`` a new batch of that many
debtors arrives every day and plays beside those already there, as new delinquencies reach
a collection system: what an experiment's guardrails see grows day by day, and a caller's
``on_day`` hook (a rehearsal watching ``GetExperiment``) may end the run.

The simulator's own contact reservations are not sent: the service wrote its own with the
decision. Case ids get a run prefix, so one service can take several runs. With the same
seed and batch size the debtors and their luck are those of ``tact simulate`` and
``tact evaluate``; a deterministic policy served by tact must then reproduce the
in-process KPIs (the service builds the same observation and mask: train/serve parity).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
import numpy as np

from engine.catalogue import CATALOGUE
from engine.state import EventKind, LedgerEvent
from engine.to_proto import case_to_proto, datetime_to_timestamp, event_to_proto
from simulator.batched import BatchedCollectionsSim
from simulator.masks import MaskProvider
from simulator.outcomes import CaseOutcomes
from simulator.replay import decision_instant, snapshot_of
from simulator.rollout import debtor_batches
from simulator.scenario import Scenario
from tact.v1 import decision_service_pb2 as pb
from tact.v1 import decision_service_pb2_grpc as rpc

DEFAULT_CHUNK = 256
"""Cases per DecideStream call; events per RecordEvents call stay under the 1,000 limit."""
_EVENTS_PER_CALL = 1000


class ServiceCallError(RuntimeError):
    """The service refused a case or an event batch (the message says which and why)."""


@dataclass(slots=True)
class AgainstResult:
    outcomes: CaseOutcomes
    run_id: str
    decisions: int = 0
    events_sent: int = 0
    blocked_in_simulator: int = 0
    """Service decisions the simulator's own mask did not allow (0 when parity holds)."""
    arms: dict[str, int] = field(default_factory=dict)
    """Decisions per ``PolicyInfo.arm``."""
    seconds: float = 0.0
    days: int = 0
    """Simulated days played."""
    stopped_on_day: int | None = None
    """The day ``on_day`` ended the run on (None: every debtor's episode ran to its end)."""


class _Driver:
    """One simulator batch talking to the service."""

    def __init__(
        self,
        stub: rpc.DecisionServiceStub,
        sim: BatchedCollectionsSim,
        run_id: str,
        result: AgainstResult,
        chunk: int,
        timeout: float,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.stub, self.sim, self.run_id = stub, sim, run_id
        self.result, self.chunk, self.timeout = result, chunk, timeout
        self.metadata = metadata
        self.sent: dict[str, int] = {}
        self.decision_ids: dict[str, str] = {}
        """Simulator decision id → the service's decision id."""

    def _case_id(self, sim_case_id: str) -> str:
        return f"{self.run_id}-{sim_case_id}"

    def _renamed(self, event: LedgerEvent) -> LedgerEvent:
        case_id = self._case_id(event.case_id)
        return replace(
            event,
            case_id=case_id,
            debtor_id=case_id,
            event_id=f"{self.run_id}-{event.event_id}",
            decision_id=self.decision_ids.get(event.decision_id, event.decision_id)
            if event.decision_id
            else "",
        )

    def sync_events(self, rows: Sequence[int]) -> None:
        recorder = self.sim.recorder
        assert recorder is not None
        protos = []
        for row in rows:
            sim_case = self.sim.case_id(row)
            events = recorder.events.get(sim_case, [])
            start = self.sent.get(sim_case, 0)
            self.sent[sim_case] = len(events)
            for event in events[start:]:
                if event.kind is EventKind.CONTACT_PLANNED:
                    continue  # the service's own reservation stands for it
                protos.append(
                    event_to_proto(self._renamed(event), currency=self.sim.scenario.currency)
                )
        for k in range(0, len(protos), _EVENTS_PER_CALL):
            part = protos[k : k + _EVENTS_PER_CALL]
            response = self._call(
                self.stub.RecordEvents, pb.RecordEventsRequest(events=part), "RecordEvents"
            )
            if response.conflicts:
                raise ServiceCallError(f"RecordEvents reported {response.conflicts} conflicts")
            self.result.events_sent += len(part)

    def _call(self, method: Any, request: Any, name: str) -> Any:
        """``method(request)`` with the caller's credentials, a stream's replies read to
        the end; a refused call is one error."""
        try:
            response = method(request, timeout=self.timeout, metadata=self.metadata)
            return list(response) if isinstance(response, Iterator) else response
        except grpc.RpcError as err:
            hint = (
                " (set TACT_TOKEN to a token with the decide and events scopes)"
                if err.code()
                in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
                else ""
            )
            raise ServiceCallError(f"{name}: {err.code().name}: {err.details()}{hint}") from None

    def decide(self, rows: Sequence[int]) -> np.ndarray:
        """Catalogue index per row in ``rows`` (the service's decisions)."""
        sim = self.sim
        indices = np.zeros(len(rows), dtype=np.int64)
        for k in range(0, len(rows), self.chunk):
            part = rows[k : k + self.chunk]
            requests = []
            for row in part:
                snapshot = snapshot_of(sim, row)
                case_id = self._case_id(snapshot.case_id)
                snapshot = replace(snapshot, case_id=case_id, debtor_id=case_id)
                requests.append(
                    pb.DecideRequest(
                        case=case_to_proto(snapshot),
                        now=datetime_to_timestamp(decision_instant(sim, row)),
                    )
                )
            replies = self._call(self.stub.DecideStream, iter(requests), "DecideStream")
            for j, (row, decision) in enumerate(zip(part, replies, strict=True)):
                if decision.HasField("error"):
                    raise ServiceCallError(
                        f"case {requests[j].case.case_id}: {decision.error.message}"
                    )
                index = int(decision.treatment.catalogue_index)
                indices[k + j] = index
                age = int(sim.clock - sim.dyn.born[row])
                self.decision_ids[f"{sim.case_id(row)}/d{age}"] = decision.decision_id
                arm = decision.policy.arm
                self.result.arms[arm] = self.result.arms.get(arm, 0) + 1
        self.result.decisions += len(rows)
        return indices


class _Cohort:
    """One batch of debtors playing against the service, a day at a time."""

    def __init__(self, sim: BatchedCollectionsSim, driver: _Driver) -> None:
        self.sim, self.driver = sim, driver
        sim.reset()
        driver.sync_events(range(sim.n))

    def step(self) -> CaseOutcomes:
        """One simulated day: the service decides for every debtor still in collection,
        the simulator plays it out, the day's events go back; the debtors who finished."""
        sim, result = self.sim, self.driver.result
        active = [int(r) for r in np.flatnonzero(sim.dyn.active)]
        indices = np.full(sim.n, CATALOGUE.WAIT_INDEX, dtype=np.int64)
        if active:
            indices[active] = self.driver.decide(active)
        sim_masks = sim.action_masks()
        blocked = ~sim_masks[np.arange(sim.n), indices]
        result.blocked_in_simulator += int(blocked.sum())
        indices[blocked] = CATALOGUE.WAIT_INDEX
        step = sim.step(indices)
        # The day's events, those of debtors who just finished (the final payment, the
        # closure) included.
        self.driver.sync_events(active)
        return step.finished


def simulate_against(
    target: str,
    scenario: Scenario,
    n_debtors: int,
    masks: MaskProvider,
    *,
    seed: int,
    batch_size: int = 4096,
    arrivals_per_day: int | None = None,
    on_day: Callable[[int, AgainstResult], bool] | None = None,
    chunk: int = DEFAULT_CHUNK,
    timeout: float = 60.0,
    run_id: str | None = None,
    connect_timeout: float = 10.0,
    progress: Callable[[int], None] | None = None,
    token: str | None = None,
) -> AgainstResult:
    """Run ``n_debtors`` simulated debtors against the tact at ``target`` (HOST:PORT).

    ``arrivals_per_day``: debtors arrive that many a day (each day's arrivals are one batch,
    so the debtors are those of a run with that batch size) instead of batch after batch.
    ``on_day(day, result_so_far)`` is called after each simulated day (day 0 first); False
    ends the run there (``AgainstResult.stopped_on_day``; the outcomes are those of the
    debtors who had finished). ``token``: the bearer token a server with
    TACT_AUTH_TOKENS_FILE asks for.
    """
    if arrivals_per_day is not None and arrivals_per_day < 1:
        raise ValueError(f"arrivals_per_day must be at least 1, got {arrivals_per_day}")
    started = time.perf_counter()
    run_id = run_id or f"run{uuid.uuid4().hex[:8]}"
    parts: list[CaseOutcomes] = []
    result = AgainstResult(outcomes=CaseOutcomes.empty(), run_id=run_id)
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(target) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=connect_timeout)
        except grpc.FutureTimeoutError as exc:
            raise ServiceCallError(
                f"no tact answers at {target} (is `tact serve` running?)"
            ) from exc
        stub = rpc.DecisionServiceStub(channel)
        batches = debtor_batches(
            scenario,
            n_debtors,
            masks,
            seed=seed,
            batch_size=arrivals_per_day or batch_size,
            record_events=True,
        )
        live: list[_Cohort] = []
        day = 0
        while True:
            if arrivals_per_day is not None or not live:
                batch = next(batches, None)
                if batch is not None:
                    driver = _Driver(stub, batch.sim, run_id, result, chunk, timeout, metadata)
                    live.append(_Cohort(batch.sim, driver))
            if not live:
                break
            for cohort in live:
                finished = cohort.step()
                if len(finished):
                    parts.append(finished)
                    if progress is not None:
                        progress(len(finished))
            live = [cohort for cohort in live if not cohort.sim.all_done]
            result.days = day + 1
            if on_day is not None and on_day(day, result) is False:
                result.stopped_on_day = day
                break
            day += 1
    result.outcomes = CaseOutcomes.concat(parts).sorted_by_serial()
    result.seconds = time.perf_counter() - started
    return result


__all__ = ["AgainstResult", "ServiceCallError", "simulate_against"]
