"""The decision pipeline of one ``Decide`` call (see design.md):

facts (case + ledger counters + local time) → compliance verdict → mask → policy →
send time → persist decision + reserve contact → decision.

Transport-free: the gRPC servicer and the in-process benchmark both call
:class:`DecisionPipeline`. Every failure raises a :mod:`engine.errors` error before
anything is written; the decision and its contact reservation commit together.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from engine.catalogue import CATALOGUE, SLOT_HOURS, Offer, Slot, Tone, Treatment
from engine.compliance import ComplianceVerdict, RuleHit
from engine.compliance.planning import check_step, states_from_events, step_entries
from engine.errors import FailedPreconditionError
from engine.explanations import explain, jurisdictions_text
from engine.features import featurize, featurize_row
from engine.history import summarise_history
from engine.ledger import CompanionRows, DecisionRecord, Ledger
from engine.outcomes import (
    CheckOutcome,
    DecisionOutcome,
    PolicyArm,
    RulesSource,
    treatment_label,
)
from engine.reservations import Reservations
from engine.state import (
    CaseBatch,
    CaseSnapshot,
    CaseState,
    LedgerEvent,
    case_row,
)
from policies.base import Policy, PolicyContractError, PolicyDecisions, check_decisions

_LOOKBACK = timedelta(days=3650)
"""How far back the ledger is read: notice periods and totals need the whole case life."""


@dataclass(slots=True)
class _Prepared:
    """A case ready for the policy: state, verdict and the mask of what is open now."""

    snapshot: CaseSnapshot
    state: CaseState
    row: dict[str, Any]
    """``case_row(state)``: shared by the rules and the featurizer."""
    zone: ZoneInfo
    verdict: ComplianceVerdict
    mask: np.ndarray
    caller_events: Sequence[LedgerEvent]
    ledger_events: Sequence[LedgerEvent]


class DecisionPipeline:
    """Decides cases. Thread-safe as long as the rules engine and the ledger are."""

    def __init__(
        self,
        *,
        rules: RulesSource,
        ledger: Ledger,
        champion: Policy,
        challenger: Policy | None = None,
        challenger_share: float = 0.0,
        explore: bool = False,
        reservations: Reservations | None = None,
    ) -> None:
        """``reservations``: how decisions are stored (default: serialised per case)."""
        if challenger is None and challenger_share > 0:
            raise ValueError("challenger_share > 0 needs a challenger policy")
        self.rules = rules
        self.ledger = ledger
        self.champion = PolicyArm("champion", champion)
        self.challenger = PolicyArm("challenger", challenger) if challenger else None
        self.challenger_share = challenger_share
        self.explore = explore
        self.reservations = reservations or Reservations(ledger)

    # ---- facts ---------------------------------------------------------------------
    def _reference_zone(self, snapshot: CaseSnapshot) -> ZoneInfo:
        """The zone of the case's local calendar; refuses a country without rules."""
        engine = self.rules.current
        if snapshot.country not in engine.countries:
            raise FailedPreconditionError(
                f"no rule file for country {snapshot.country!r}: tact recommends no contact. "
                + jurisdictions_text(engine.countries)
            )
        # Without a zone, history days are counted in the jurisdiction's first (reference)
        # zone (for US-MA: New York); the rules still check every zone for send times.
        return engine.reference_zone(engine.jurisdiction(snapshot), snapshot.timezone)

    def build_state(
        self,
        snapshot: CaseSnapshot,
        caller_events: Sequence[LedgerEvent],
        now: datetime,
        stored: Sequence[LedgerEvent] | None = None,
    ) -> tuple[CaseState, ZoneInfo]:
        """The case as of ``now``; ``stored``: its ledger events if already read (at least
        those since ``now - lookback``), else they are read here."""
        state, zone, _ = self._state(snapshot, caller_events, now, stored)
        return state, zone

    def _state(
        self,
        snapshot: CaseSnapshot,
        caller_events: Sequence[LedgerEvent],
        now: datetime,
        stored: Sequence[LedgerEvent] | None,
    ) -> tuple[CaseState, ZoneInfo, list[LedgerEvent]]:
        """:meth:`build_state`, and the ledger events it counted."""
        zone = self._reference_zone(snapshot)
        since = _since(now)
        if stored is None:
            stored = self.ledger.events_for_case(snapshot.case_id, since=since)
        else:
            stored = [e for e in stored if e.occurred_at >= since]
        today = now.astimezone(zone).date()
        # summarise_history de-duplicates by event_id: caller history merges with the
        # ledger without double counting.
        history = summarise_history([*stored, *caller_events], as_of=today, tz=zone)
        state = CaseState(snapshot=snapshot, history=history, as_of=now, local_date=today)
        return state, zone, stored

    def _prepare(
        self,
        snapshot: CaseSnapshot,
        caller_events: Sequence[LedgerEvent],
        now: datetime,
        stored: Sequence[LedgerEvent] | None = None,
    ) -> _Prepared:
        state, zone, counted = self._state(snapshot, caller_events, now, stored)
        row = case_row(state)
        verdict = self.rules.current.evaluate(state, row)
        # The verdict allows a contact only inside a send window that is still open at
        # ``now`` (both the known-zone and the every-zone paths); the chosen step's UTC
        # window is computed (and checked again) in _finish.
        mask = verdict.mask
        return _Prepared(snapshot, state, row, zone, verdict, mask, caller_events, counted)

    # ---- decide --------------------------------------------------------------------
    def arm_for(self, case_id: str) -> PolicyArm:
        """Sticky assignment: a case stays in its arm for its whole life."""
        if self.challenger is None or self.challenger_share <= 0:
            return self.champion
        bucket = int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:4], "big") / 2**32
        return self.challenger if bucket < self.challenger_share else self.champion

    def arm_of(self, snapshot: CaseSnapshot) -> PolicyArm:
        """The arm that decides ``snapshot`` (an experiment overrides this: by debtor)."""
        return self.arm_for(snapshot.case_id)

    def arm_named(self, name: str) -> PolicyArm:
        """The arm called ``name`` (as :meth:`arm_of` named it)."""
        arm = self.champion if name == "champion" else self.challenger
        assert arm is not None
        return arm

    def decide(
        self,
        snapshot: CaseSnapshot,
        caller_events: Sequence[LedgerEvent],
        *,
        now: datetime,
        dry_run: bool = False,
        inputs_digest: str | None = None,
    ) -> DecisionOutcome:
        """Decide one case and, unless ``dry_run``, persist it with its reservation.

        ``inputs_digest``: the digest of the request this decision answers; a later call
        with the same digest for the case returns the stored decision instead of deciding
        again. ``None``: no request, never replayed."""
        [outcome] = self.decide_many([(snapshot, caller_events, now)], dry_run=dry_run)
        if isinstance(outcome, Exception):
            raise outcome
        if not dry_run:
            [outcome] = self.persist([(outcome, inputs_digest)])
        return outcome

    def persist(
        self,
        outcomes: Sequence[tuple[DecisionOutcome, str | None]],
        *,
        companions: Sequence[CompanionRows] = (),
    ) -> list[DecisionOutcome]:
        """Store ``(decision, request digest or None)`` pairs with their contact reservations
        in one transaction (all or none), re-checked against the ledger as it is at the
        write (:mod:`engine.reservations`).

        Returns the decisions as stored, in order: each the given one; or a WAIT where
        another reservation for its case now blocks the contact it chose; or, where the
        case's ledger holds a decision for the same request digest already, that decision
        (:meth:`replay`; nothing is stored for it). ``companions``: rows of other ledger
        tables stored in the same transaction.
        """
        since = _since(min(outcome.decided_at for outcome, _ in outcomes)) if outcomes else None
        return self.reservations.reserve(
            outcomes, recheck=self.recheck, replay=self.replay, since=since, companions=companions
        )

    def replay(self, outcome: DecisionOutcome, stored: DecisionRecord) -> DecisionOutcome:
        """The decision ``stored`` for an earlier attempt of ``outcome``'s request, as this
        attempt returns it: everything the record holds is the record's (id, treatment,
        times, policy, propensity, ruleset, explanation); the rest is this attempt's (the
        case, its time zone, ``sampled``), and a rule hit's message and citation are
        this attempt's for the same rule id (the record keeps ids only)."""
        hits = {h.rule_id: h for h in outcome.rule_hits}
        return replace(
            outcome,
            decision_id=stored.decision_id,
            index=stored.treatment_index,  # the catalogue's indices never change meaning
            treatment=_TREATMENTS[stored.treatment_index],
            decided_at=stored.decided_at,
            send_at=stored.send_at,
            next_review_at=stored.next_review_at,
            policy_name=stored.policy_name,
            policy_version=stored.policy_version,
            arm=stored.policy_arm,
            propensity=stored.propensity,
            ruleset_version=stored.ruleset_version,
            rule_hits=tuple(hits.get(r) or RuleHit(r, "", "") for r in stored.rule_ids),
            explanation=stored.explanation,
            replayed=True,
        )

    def recheck(
        self, outcome: DecisionOutcome, ledger_events: Sequence[LedgerEvent]
    ) -> DecisionOutcome:
        """``outcome`` as it may be stored, given its case's ledger events now.

        ``outcome`` itself when the ledger holds what the decision read, or when the rules still
        allow its contact at its send time with what the ledger holds now. Otherwise a
        WAIT of the same decision id that names the rules that now block the contact (fail
        closed: never a reservation past a limit).
        """
        now = outcome.decided_at
        since = _since(now)
        current = [e for e in ledger_events if e.occurred_at >= since]
        if outcome.send_at is None or current == list(outcome.ledger_events):
            return outcome
        p = self._prepare(outcome.snapshot, outcome.caller_events, now, current)
        window = p.verdict.window_utc(outcome.index)
        if window is not None and window[0] <= outcome.send_at < window[1]:
            return outcome  # still allowed with what the ledger holds now
        arm = self.arm_of(outcome.snapshot)  # the case's runner under case exploration
        if arm.name != outcome.arm:
            try:
                arm = self.arm_named(outcome.arm)
            except KeyError:  # an experiment's arm that a reload removed since: keep its name
                arm = PolicyArm(outcome.arm, self.champion.policy)
        waited = self._finish(
            p, CATALOGUE.WAIT_INDEX, 1.0, arm, featurize_row(p.row), dry_run=outcome.dry_run
        )
        blocking = p.verdict.hits_for(outcome.index) or p.verdict.reasons_at(
            [outcome.index], outcome.send_at
        )
        hits = _unique_hits([*blocking, *waited.rule_hits])
        because = ", ".join(h.rule_id for h in blocking) or "the rules"
        label = treatment_label(outcome.index, outcome.treatment)
        return replace(
            waited,
            decision_id=outcome.decision_id,
            rule_hits=hits,
            explanation=(
                f"{waited.explanation} {label} was chosen, "
                f"but another decision reserved a contact for this case meanwhile and "
                f"{because} now block it: no contact."
            ),
        )

    def decide_many(
        self,
        cases: Sequence[tuple[CaseSnapshot, Sequence[LedgerEvent], datetime]],
        *,
        dry_run: bool = False,
    ) -> list[DecisionOutcome | Exception]:
        """Decide several cases with one batched policy call per arm; persists nothing.

        A case that cannot be decided yields its exception in place of an outcome, so one
        bad case never spoils a batch.
        """
        # Several cases: every history in one ledger call (one connection checkout).
        stored: dict[str, list[LedgerEvent]] | Exception | None = None
        if len(cases) > 1:
            try:
                stored = self.ledger.events_for_cases(
                    [snapshot.case_id for snapshot, _, _ in cases],
                    since=_since(min(now for _, _, now in cases)),
                )
            except Exception as exc:  # every case fails with it, as each read would
                stored = exc
        prepared: list[_Prepared | Exception] = []
        for snapshot, events, now in cases:
            try:
                if isinstance(stored, Exception):
                    raise stored
                history = None if stored is None else stored[snapshot.case_id]
                prepared.append(self._prepare(snapshot, events, now, history))
            except Exception as exc:  # reported per case by the caller
                prepared.append(exc)
        results: list[DecisionOutcome | Exception] = list(prepared)  # type: ignore[arg-type]
        # One policy call per (arm, policy): under case exploration one arm's cases are
        # run by several policies.
        by_arm: dict[tuple[str, int], tuple[PolicyArm, list[int]]] = {}
        for row, p in enumerate(prepared):
            if isinstance(p, _Prepared):
                arm = self.arm_of(p.snapshot)
                by_arm.setdefault((arm.name, id(arm.policy)), (arm, []))[1].append(row)
        for arm, rows in by_arm.values():
            ready = [p for r in rows if isinstance(p := prepared[r], _Prepared)]
            try:
                chosen = self._choose(arm, ready)
            except Exception as exc:  # the policy failed or broke its contract: no contact
                for row in rows:
                    results[row] = exc
                continue
            for row, p, (index, propensity, observation) in zip(rows, ready, chosen, strict=True):
                try:
                    results[row] = self._finish(
                        p, index, propensity, arm, observation, dry_run=dry_run
                    )
                except Exception as exc:  # this case only
                    results[row] = exc
        return results

    def _choose(
        self, arm: PolicyArm, ready: Sequence[_Prepared]
    ) -> list[tuple[int, float, np.ndarray]]:
        """(index, propensity, observation) per case from one policy call, checked against
        the masks: a policy can never pick a blocked step."""
        # A fresh generator per call: numpy Generators must not be shared by threads.
        rng = np.random.default_rng() if self.explore else None
        if len(ready) == 1:  # a lone Decide: the plain-Python featurizer (same values)
            [p] = ready
            # A writable copy, as np.stack gives: the verdict's mask is shared.
            masks = p.mask[None, :].copy()
            observations = featurize_row(p.row)[None, :]
            decisions = arm.policy.act(observations, masks, rng)
            index, propensity = _checked_single(decisions, p.mask, masks)
            return [(index, propensity, observations[0])]
        masks = np.stack([p.mask for p in ready])
        observations = featurize(CaseBatch.from_rows([p.row for p in ready]))
        decisions = arm.policy.act(observations, masks, rng)
        check_decisions(decisions, masks)
        return [
            (int(decisions.indices[k]), float(decisions.propensities[k]), observations[k])
            for k in range(len(ready))
        ]

    def _finish(
        self,
        p: _Prepared,
        index: int,
        propensity: float,
        arm: PolicyArm,
        observation: np.ndarray,
        *,
        dry_run: bool,
    ) -> DecisionOutcome:
        now = p.state.as_of
        treatment = _TREATMENTS[index]
        mask = p.mask
        open_steps = int(np.count_nonzero(mask))
        send_at: datetime | None = None
        next_review: datetime | None = None
        if treatment.is_contact:
            window = p.verdict.window_utc(index)
            if window is None or window[1] <= now:  # fail closed: cannot happen by design
                raise RuntimeError(
                    f"{treatment.label} was chosen but has no open send window now "
                    "(blocked by the verdict, or its slot has passed)"
                )
            earliest = max(window[0], now)
            send_at = _ceil_minute(earliest)
            if send_at >= window[1]:  # under a minute left: send now rather than never
                send_at = earliest
        else:
            # Any contact step open (WAIT is not one)?
            contact_open = open_steps > (1 if mask[CATALOGUE.WAIT_INDEX] else 0)
            next_review = self._next_review(p, contact_open)
        shaping = p.verdict.shaping_hits
        rule_ids = [h.rule_id for h in shaping]
        if len(set(rule_ids)) == len(rule_ids):  # once each, as the verdict promises
            hits = tuple(shaping)
        else:
            hits = _unique_hits(shaping)
            rule_ids = [h.rule_id for h in hits]
        chosen_by = f"{arm.policy.name} ({arm.name})"
        explanation = explain(
            index, send_at, next_review, p.zone, open_steps - 1, chosen_by, rule_ids
        )
        return DecisionOutcome(
            decision_id=str(uuid.uuid4()),
            snapshot=p.snapshot,
            index=index,
            treatment=treatment,
            decided_at=now,
            zone=p.zone,
            send_at=send_at,
            next_review_at=next_review,
            policy_name=arm.policy.name,
            policy_version=arm.policy.version,
            arm=arm.name,
            propensity=propensity,
            sampled=self.explore,
            ruleset_version=p.verdict.ruleset_version,
            rule_hits=hits,
            explanation=explanation,
            dry_run=dry_run,
            observation=observation,
            mask=p.mask,
            caller_events=tuple(p.caller_events),
            ledger_events=tuple(p.ledger_events),
        )

    def _next_review(self, p: _Prepared, contact_open: bool) -> datetime:
        """When a wait should be asked again: the next local morning, or, during a
        breathing space, the morning after it ends (nothing may be sent before).
        ``contact_open``: the mask allows some contact step now."""
        days_left = int(p.row["breathing_space_days_left"])
        if contact_open or days_left == 0:
            review_day = p.state.local_date + _ONE_DAY
        else:
            # breathing_space_days_left counts today: the moratorium's last day is today +
            # days_left - 1, so contact may resume the day after.
            review_day = p.state.local_date + timedelta(days=days_left)
        return _local_morning(review_day, p.zone)

    # ---- check ---------------------------------------------------------------------
    def check(
        self,
        snapshot: CaseSnapshot,
        caller_events: Sequence[LedgerEvent],
        proposed: Treatment,
        *,
        at: datetime,
        tone: Tone | None = None,
        offer: Offer | None = None,
    ) -> CheckOutcome:
        """May ``proposed`` (its action and channel; ``tone`` / ``offer`` when given, else
        any) be taken at ``at``, in whichever send slot ``at`` falls? With the rules that
        block it then and the earliest allowed instant (engine.compliance.planning)."""
        engine = self.rules.current
        zone = self._reference_zone(snapshot)
        if not proposed.is_contact:
            return CheckOutcome(True, (), at, engine.version)
        stored = self.ledger.events_for_case(snapshot.case_id, since=_since(at))
        answer = check_step(
            engine,
            states_from_events(snapshot, [*stored, *caller_events], zone, at),
            step_entries(proposed, tone=tone, offer=offer),
            at,
            reference_zone=zone,
        )
        return CheckOutcome(
            answer.allowed, answer.violations, answer.next_allowed_at, answer.ruleset_version
        )


def _since(now: datetime) -> datetime:
    """Start of the ledger read for a decision at ``now`` (clamped: never overflows)."""
    earliest = datetime.min.replace(tzinfo=UTC)
    return now - _LOOKBACK if now - earliest > _LOOKBACK else earliest


def _ceil_minute(at: datetime) -> datetime:
    """``at`` rounded up to the next whole minute; ``at`` itself when it is one."""
    second, microsecond = at.second, at.microsecond
    if not second and not microsecond:
        return at
    # Wall-clock arithmetic in at's tzinfo, as floor + 1 minute: the same value.
    return at + timedelta(0, 60 - second, -microsecond)  # (days, seconds, microseconds)


def _unique_hits(hits: Sequence[RuleHit]) -> tuple[RuleHit, ...]:
    seen: dict[str, RuleHit] = {}
    for hit in hits:
        seen.setdefault(hit.rule_id, hit)
    return tuple(seen.values())


def _checked_single(
    decisions: PolicyDecisions, mask: np.ndarray, masks: np.ndarray
) -> tuple[int, float]:
    """The (index, propensity) a policy chose for a batch of one, checked as
    :func:`policies.base.check_decisions` checks it (any policy, third-party ones too), in
    plain Python: numpy's per-call overhead dominates at one row. The index is checked
    against ``mask``, the verdict's own (``masks``: the copy the policy saw). Anything
    off goes to ``check_decisions`` for its usual error."""
    indices, propensities = decisions.indices, decisions.propensities
    if indices.shape == (1,) and propensities.shape == (1,) and indices.dtype.kind in "iu":
        index = int(indices[0])
        propensity = float(propensities[0])
        if 0 <= index < mask.shape[0] and mask[index] and 0.0 < propensity <= 1.0 + 1e-9:
            return index, propensity
    check_decisions(decisions, masks)
    # Passed against the policy's copy only (a negative index, or a mask it rewrote).
    raise PolicyContractError(f"policy chose blocked treatment {int(indices[0])} for row 0")


_TREATMENTS = CATALOGUE.treatments
_ONE_DAY = timedelta(days=1)
_MORNING = time(SLOT_HOURS[Slot.MORNING][0])


def _local_morning(day: date, zone: ZoneInfo) -> datetime:
    """UTC instant of the morning slot's start on local ``day`` in ``zone``."""
    return datetime.combine(day, _MORNING, zone).astimezone(UTC)


__all__ = ["DecisionPipeline"]
