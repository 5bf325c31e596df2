"""Case state: what tact knows about one case at one instant.

This module is one third of the train/serve parity contract (with the catalogue and the
featurizer). The service builds a :class:`CaseSnapshot` from a ``tact.v1.Case`` and a
:class:`HistorySummary` from the contact ledger; the simulator keeps the same quantities
in arrays. :class:`CaseBatch` is the columnar form both hand to the featurizer and the
compliance engine, so one code path serves one case or ten thousand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from enum import IntEnum
from typing import Any

import numpy as np

from engine.catalogue import Action, Channel

HISTORY_DAYS = 35
"""Days of per-day contact counts kept (today = offset 0). Covers 30-day rolling limits."""

NEVER = 9999
"""``days_since_*`` value meaning "has not happened"."""

N_CHANNEL_SLOTS = len(Channel)  # index = Channel value; column 0 (NONE) stays zero


class AgeBand(IntEnum):
    UNSPECIFIED = 0
    AGE_18_29 = 1
    AGE_30_44 = 2
    AGE_45_64 = 3
    AGE_65_PLUS = 4


class Product(IntEnum):
    UNSPECIFIED = 0
    TELECOM = 1
    CONSUMER_CREDIT = 2
    CREDIT_CARD = 3
    UTILITY = 4
    BNPL = 5


class ConsentStatus(IntEnum):
    """Per-channel permission. UNKNOWN means neither granted nor refused."""

    UNKNOWN = 0
    GRANTED = 1
    OPTED_OUT = 2


class EventKind(IntEnum):
    """Ledger event types. Values match ``tact.v1.EventType``."""

    CONTACT_ATTEMPTED = 1
    CONTACT_DELIVERED = 2
    CONTACT_OPENED = 3
    CONTACT_CLICKED = 4
    CALL_CONNECTED = 5
    CALL_NOT_CONNECTED = 6
    CONVERSATION = 7
    PROMISE_TO_PAY = 8
    PAYMENT = 9
    PLAN_AGREED = 10
    PLAN_BROKEN = 11
    COMPLAINT = 12
    OPT_OUT = 13
    CONSENT_GRANTED = 14
    DISPUTE_OPENED = 15
    DISPUTE_RESOLVED = 16
    CEASE_REQUEST = 17
    BREATHING_SPACE_STARTED = 18
    BREATHING_SPACE_ENDED = 19
    BANKRUPTCY = 20
    DECEASED = 21
    CASE_CLOSED = 22
    CALL_CONSENT = 23
    """Direct prior consent to be called (Reg F §1006.14(b)(3)); consent day is day 1 of 7."""
    PROMISE_BROKEN = 24
    PLAN_COMPLETED = 25
    CONTACT_PLANNED = 26
    """A contact tact recommended and reserved; counts against limits until superseded."""


@dataclass(frozen=True, slots=True)
class DebtorProfile:
    age_band: AgeBand = AgeBand.UNSPECIFIED
    language: str = ""
    tenure_months: int = 0
    prior_on_time_ratio: float = 0.5
    risk_score: float = 0.5
    has_app: bool = False


@dataclass(frozen=True, slots=True)
class CaseFlags:
    dispute: bool = False
    cease_communication: bool = False
    vulnerable: bool = False
    bankruptcy: bool = False
    deceased: bool = False
    breathing_space_until: date | None = None
    mental_health_crisis: bool = False
    time_barred: bool = False
    hardship: bool = False


@dataclass(frozen=True, slots=True)
class CaseSnapshot:
    """The caller's view of a case (everything in ``tact.v1.Case`` but the history)."""

    case_id: str
    debtor_id: str
    country: str
    timezone: str | None
    currency: str
    outstanding_minor: int
    original_minor: int
    days_past_due: int
    product: Product = Product.UNSPECIFIED
    debtor: DebtorProfile = field(default_factory=DebtorProfile)
    consents: dict[Channel, ConsentStatus] = field(default_factory=dict)
    flags: CaseFlags = field(default_factory=CaseFlags)
    subdivision: str | None = None
    """ISO 3166-2 code of the debtor's state or province (e.g. "US-MA"), when known."""


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One thing that happened to a case. Times are timezone-aware UTC."""

    event_id: str
    case_id: str
    kind: EventKind
    occurred_at: datetime
    channel: Channel = Channel.NONE
    action: Action | None = None
    amount_minor: int = 0
    until: date | None = None
    """End date for BREATHING_SPACE_STARTED."""
    decision_id: str = ""
    debtor_id: str = ""
    """Pseudonymous debtor id ("" when unknown); the ledger needs it for erasure."""
    attempt_event_id: str = ""
    """For an outcome event: the event_id of the attempt (or first report) of the contact
    it reports on ("" when not given); see :mod:`engine.contacts`."""

    def same_report(self, other: LedgerEvent) -> bool:
        """Whether ``other`` reports the same thing (ids of case and debtor aside): a copy
        of this event, not a different event that reuses its id."""
        return (
            self.kind is other.kind
            and self.occurred_at == other.occurred_at
            and self.channel is other.channel
            and self.action is other.action
            and self.amount_minor == other.amount_minor
            and self.until == other.until
            and self.decision_id == other.decision_id
            and self.attempt_event_id == other.attempt_event_id
        )


@dataclass(slots=True)
class HistorySummary:
    """Counters over a case's ledger, as of one local date of the debtor."""

    contacts_by_day: np.ndarray = field(
        default_factory=lambda: np.zeros((HISTORY_DAYS, N_CHANNEL_SLOTS), dtype=np.int16)
    )
    """Contacts placed (attempted or reserved) per local day offset (0 = today) and channel."""
    calls_not_connected_by_day: np.ndarray = field(
        default_factory=lambda: np.zeros(HISTORY_DAYS, dtype=np.int16)
    )
    calls_with_consent_by_day: np.ndarray = field(
        default_factory=lambda: np.zeros(HISTORY_DAYS, dtype=np.int16)
    )
    """Connected (or unknown) calls placed inside a direct-prior-consent window."""
    days_since_conversation: int = NEVER
    days_since_first_reminder: int = NEVER
    days_since_first_written_reminder: int = NEVER
    days_since_first_demand: int = NEVER
    days_since_last_payment: int = NEVER
    days_since_call_consent: int = NEVER
    """Local days since the latest direct prior consent to calls (Reg F: consent day = day 1)."""
    days_since_breathing_space_started: int = NEVER
    """Local days since the current breathing space started (NEVER if none or ended)."""
    days_since_legal_escalation: int = NEVER
    """Local days since the case was escalated to legal action (first time); NEVER if not."""
    deliveries_30d: int = 0
    opens_7d: int = 0
    opens_30d: int = 0
    clicks_30d: int = 0
    conversations_30d: int = 0
    payments_total: int = 0
    paid_minor_total: int = 0
    promises_open: int = 0
    promises_broken: int = 0
    plan_active: bool = False
    plans_broken: int = 0
    complaints_total: int = 0
    complaints_30d: int = 0
    dispute_open: bool = False
    cease_requested: bool = False
    bankruptcy: bool = False
    deceased: bool = False
    closed: bool = False
    breathing_space_until: date | None = None
    consent_overrides: dict[Channel, ConsentStatus] = field(default_factory=dict)
    """Latest opt-out / consent per channel seen in the ledger (overrides the case's)."""


@dataclass(frozen=True, slots=True)
class CaseState:
    """A case as of one instant: the caller's snapshot merged with its ledger history."""

    snapshot: CaseSnapshot
    history: HistorySummary
    as_of: datetime
    """The decision instant, timezone-aware UTC."""
    local_date: date
    """The debtor's local date at ``as_of`` (in the case's zone, or the country's first zone)."""


@dataclass(slots=True)
class CaseBatch:
    """Columnar view of N case states: the input of the featurizer and the compliance mask.

    Every column is a numpy array whose first axis is the case. Names mirror the fields
    of :class:`CaseSnapshot` and :class:`HistorySummary`, with flags and consents already
    merged (ledger events win over the caller's snapshot: a later opt-out is an opt-out).
    """

    country: np.ndarray  # <U2
    weekday: np.ndarray  # int8, debtor's local weekday at the decision instant (Mon = 0)
    days_past_due: np.ndarray  # int32
    outstanding_minor: np.ndarray  # int64
    original_minor: np.ndarray  # int64
    product: np.ndarray  # int8
    age_band: np.ndarray  # int8
    tenure_months: np.ndarray  # int32
    prior_on_time_ratio: np.ndarray  # float32
    risk_score: np.ndarray  # float32
    has_app: np.ndarray  # bool
    consent: np.ndarray  # int8 (N, N_CHANNEL_SLOTS) ConsentStatus
    dispute: np.ndarray  # bool
    cease_communication: np.ndarray  # bool
    vulnerable: np.ndarray  # bool
    bankruptcy: np.ndarray  # bool
    deceased: np.ndarray  # bool
    closed: np.ndarray  # bool
    mental_health_crisis: np.ndarray  # bool
    time_barred: np.ndarray  # bool
    hardship: np.ndarray  # bool
    breathing_space_days_left: np.ndarray  # int32, 0 when none; counts today
    contacts_by_day: np.ndarray  # int16 (N, HISTORY_DAYS, N_CHANNEL_SLOTS)
    calls_not_connected_by_day: np.ndarray  # int16 (N, HISTORY_DAYS)
    calls_with_consent_by_day: np.ndarray  # int16 (N, HISTORY_DAYS)
    days_since_conversation: np.ndarray  # int32
    days_since_first_reminder: np.ndarray  # int32
    days_since_first_written_reminder: np.ndarray  # int32
    days_since_first_demand: np.ndarray  # int32
    days_since_last_payment: np.ndarray  # int32
    deliveries_30d: np.ndarray  # int16
    opens_7d: np.ndarray  # int16
    opens_30d: np.ndarray  # int16
    clicks_30d: np.ndarray  # int16
    conversations_30d: np.ndarray  # int16
    payments_total: np.ndarray  # int16
    paid_minor_total: np.ndarray  # int64
    promises_open: np.ndarray  # int16
    promises_broken: np.ndarray  # int16
    plan_active: np.ndarray  # bool
    plans_broken: np.ndarray  # int16
    complaints_total: np.ndarray  # int16
    complaints_30d: np.ndarray  # int16
    # Added for the compliance rules; optional so that existing constructors keep working
    # (None → NEVER for every row, the fail-closed value: no consent, no breathing-space start).
    days_since_call_consent: np.ndarray = None  # type: ignore[assignment]  # int32
    days_since_breathing_space_started: np.ndarray = None  # type: ignore[assignment]  # int32
    days_since_legal_escalation: np.ndarray = None  # type: ignore[assignment]  # int32

    def __post_init__(self) -> None:
        n = len(self.country)
        if self.days_since_legal_escalation is None:
            self.days_since_legal_escalation = np.full(n, NEVER, dtype=np.int32)
        if self.days_since_call_consent is None:
            self.days_since_call_consent = np.full(n, NEVER, dtype=np.int32)
        if self.days_since_breathing_space_started is None:
            self.days_since_breathing_space_started = np.full(n, NEVER, dtype=np.int32)

    def __len__(self) -> int:
        return int(self.country.shape[0])

    def take(self, rows: np.ndarray | Sequence[int]) -> CaseBatch:
        """A new batch holding only ``rows`` (index array or boolean mask)."""
        return CaseBatch(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @classmethod
    def empty(cls, n: int) -> CaseBatch:
        """``n`` zeroed rows with the service's dtypes and shapes (``days_since_*`` = NEVER).

        For callers that keep case state natively in columns (the simulator)."""
        shapes = {
            "consent": (n, N_CHANNEL_SLOTS),
            "contacts_by_day": (n, HISTORY_DAYS, N_CHANNEL_SLOTS),
            "calls_not_connected_by_day": (n, HISTORY_DAYS),
            "calls_with_consent_by_day": (n, HISTORY_DAYS),
        }
        columns = {}
        for f in fields(cls):
            fill = NEVER if f.name.startswith("days_since_") else 0
            columns[f.name] = np.full(shapes.get(f.name, (n,)), fill, dtype=_DTYPES[f.name])
        return cls(**columns)

    @classmethod
    def concat(cls, batches: Sequence[CaseBatch]) -> CaseBatch:
        """The rows of several batches, in order, as one batch."""
        if len(batches) == 1:
            return batches[0]
        return cls(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)}
        )

    @classmethod
    def from_states(cls, states: Sequence[CaseState]) -> CaseBatch:
        return cls.from_rows([case_row(s) for s in states])

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> CaseBatch:
        """The batch of rows built by :func:`case_row` (callers that already have them)."""
        cols: dict[str, list[object]] = {f.name: [] for f in fields(cls)}
        for row in rows:
            for name, value in row.items():
                cols[name].append(value)
        arrays = {name: np.asarray(values, dtype=_DTYPES[name]) for name, values in cols.items()}
        return cls(**arrays)


_DTYPES: dict[str, Any] = {
    "country": "<U2",
    "weekday": np.int8,
    "days_past_due": np.int32,
    "outstanding_minor": np.int64,
    "original_minor": np.int64,
    "product": np.int8,
    "age_band": np.int8,
    "tenure_months": np.int32,
    "prior_on_time_ratio": np.float32,
    "risk_score": np.float32,
    "has_app": np.bool_,
    "consent": np.int8,
    "dispute": np.bool_,
    "cease_communication": np.bool_,
    "vulnerable": np.bool_,
    "bankruptcy": np.bool_,
    "deceased": np.bool_,
    "closed": np.bool_,
    "mental_health_crisis": np.bool_,
    "time_barred": np.bool_,
    "hardship": np.bool_,
    "breathing_space_days_left": np.int32,
    "contacts_by_day": np.int16,
    "calls_not_connected_by_day": np.int16,
    "calls_with_consent_by_day": np.int16,
    "days_since_conversation": np.int32,
    "days_since_first_reminder": np.int32,
    "days_since_first_written_reminder": np.int32,
    "days_since_first_demand": np.int32,
    "days_since_last_payment": np.int32,
    "deliveries_30d": np.int16,
    "opens_7d": np.int16,
    "opens_30d": np.int16,
    "clicks_30d": np.int16,
    "conversations_30d": np.int16,
    "payments_total": np.int16,
    "paid_minor_total": np.int64,
    "promises_open": np.int16,
    "promises_broken": np.int16,
    "plan_active": np.bool_,
    "plans_broken": np.int16,
    "complaints_total": np.int16,
    "complaints_30d": np.int16,
    "days_since_call_consent": np.int32,
    "days_since_breathing_space_started": np.int32,
    "days_since_legal_escalation": np.int32,
}


def case_row(state: CaseState) -> dict[str, Any]:
    """One case as the row :meth:`CaseBatch.from_states` would hold: column name → value
    (Python scalars; ``consent`` and the ``*_by_day`` counters as numpy arrays).

    The single-case paths (``featurize_row``, the compliance engine's row facts) read
    this dict directly instead of a one-row batch; parity tests hold them equal to the
    batch paths.
    """
    snap, h = state.snapshot, state.history
    flags = snap.flags
    consent = np.zeros(N_CHANNEL_SLOTS, dtype=np.int8)
    for channel, status in snap.consents.items():
        consent[channel] = status
    for channel, status in h.consent_overrides.items():
        consent[channel] = status
    until = h.breathing_space_until or flags.breathing_space_until
    if h.breathing_space_until and flags.breathing_space_until:
        until = max(h.breathing_space_until, flags.breathing_space_until)
    days_left = max(0, (until - state.local_date).days + 1) if until else 0
    return {
        "country": snap.country,
        "weekday": state.local_date.weekday(),
        "days_past_due": snap.days_past_due,
        "outstanding_minor": snap.outstanding_minor,
        "original_minor": snap.original_minor,
        "product": snap.product,
        "age_band": snap.debtor.age_band,
        "tenure_months": snap.debtor.tenure_months,
        "prior_on_time_ratio": snap.debtor.prior_on_time_ratio,
        "risk_score": snap.debtor.risk_score,
        "has_app": snap.debtor.has_app,
        "consent": consent,
        "dispute": flags.dispute or h.dispute_open,
        "cease_communication": flags.cease_communication or h.cease_requested,
        "vulnerable": flags.vulnerable,
        "bankruptcy": flags.bankruptcy or h.bankruptcy,
        "deceased": flags.deceased or h.deceased,
        "closed": h.closed,
        "mental_health_crisis": flags.mental_health_crisis,
        "time_barred": flags.time_barred,
        "hardship": flags.hardship,
        "breathing_space_days_left": days_left,
        "contacts_by_day": h.contacts_by_day,
        "calls_not_connected_by_day": h.calls_not_connected_by_day,
        "calls_with_consent_by_day": h.calls_with_consent_by_day,
        "days_since_conversation": h.days_since_conversation,
        "days_since_first_reminder": h.days_since_first_reminder,
        "days_since_first_written_reminder": h.days_since_first_written_reminder,
        "days_since_first_demand": h.days_since_first_demand,
        "days_since_last_payment": h.days_since_last_payment,
        "deliveries_30d": h.deliveries_30d,
        "opens_7d": h.opens_7d,
        "opens_30d": h.opens_30d,
        "clicks_30d": h.clicks_30d,
        "conversations_30d": h.conversations_30d,
        "payments_total": h.payments_total,
        "paid_minor_total": h.paid_minor_total,
        "promises_open": h.promises_open,
        "promises_broken": h.promises_broken,
        "plan_active": h.plan_active,
        "plans_broken": h.plans_broken,
        "complaints_total": h.complaints_total,
        "complaints_30d": h.complaints_30d,
        "days_since_call_consent": h.days_since_call_consent,
        "days_since_breathing_space_started": h.days_since_breathing_space_started,
        "days_since_legal_escalation": h.days_since_legal_escalation,
    }
