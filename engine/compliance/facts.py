"""Case facts: the numbers the rules' conditions read, derived from :class:`CaseBatch`
columns by one vectorised function used by *both* evaluation paths (``durable_rules`` for
one case, numpy for the simulator's batches). Only the rule evaluation differs.

Every fact is an integer (booleans are 0/1) so that ``durable_rules`` and numpy compare
the same values. Names starting with ``_`` are internal (country id, contact counts of
the ruleset's limits, notice periods run out) and cannot be used in ``when:`` conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from engine.catalogue import CONTACT_CHANNELS, Channel
from engine.compliance.calendar import HolidayCalendar, day_kinds
from engine.compliance.notices import NoticeSpec, notice_units, notice_units_row
from engine.state import HISTORY_DAYS, NEVER, CaseBatch, ConsentStatus

# Scalar CaseBatch columns exposed as facts under their own names, with their meaning.
_COLUMN_FACTS: dict[str, str] = {
    "days_past_due": "days since the due date",
    "outstanding_minor": "outstanding balance, minor units",
    "original_minor": "original balance, minor units",
    "product": "product code (1 telecom, 2 consumer credit, 3 credit card, 4 utility, 5 BNPL)",
    "age_band": "debtor age band (1 18-29, 2 30-44, 3 45-64, 4 65+)",
    "tenure_months": "months as a customer",
    "has_app": "debtor has the creditor's app (0/1)",
    "dispute": "the debt is disputed and the dispute is open (0/1)",
    "cease_communication": "the debtor asked to stop communication (0/1)",
    "vulnerable": "the debtor is known or suspected to be vulnerable (0/1)",
    "bankruptcy": "the debtor is in bankruptcy / insolvency proceedings (0/1)",
    "deceased": "the debtor is deceased (0/1)",
    "closed": "the case is closed (0/1)",
    "mental_health_crisis": "mental health crisis breathing space is active (0/1)",
    "time_barred": "the debt is time-barred (0/1)",
    "hardship": "the debtor reported financial hardship (0/1)",
    "breathing_space_days_left": "days of breathing space left, today included (0 = none)",
    "days_since_conversation": "local days since the last conversation (0 = today; NEVER)",
    "days_since_first_reminder": "local days since the first reminder (NEVER if none)",
    "days_since_first_written_reminder": "days since the first letter/e-mail reminder",
    "days_since_first_demand": "local days since the first demand (NEVER if none)",
    "days_since_last_payment": "local days since the last payment (NEVER if none)",
    "days_since_call_consent": "local days since direct prior consent to calls (NEVER)",
    "days_since_breathing_space_started": "local days since breathing space started (NEVER)",
    "deliveries_30d": "contacts delivered in 30 days",
    "opens_7d": "messages opened in 7 days",
    "opens_30d": "messages opened in 30 days",
    "clicks_30d": "links clicked in 30 days",
    "conversations_30d": "conversations in 30 days",
    "payments_total": "payments received",
    "paid_minor_total": "amount paid, minor units",
    "promises_open": "open promises to pay",
    "promises_broken": "broken promises to pay",
    "plan_active": "an instalment plan is active (0/1)",
    "plans_broken": "broken instalment plans",
    "complaints_total": "complaints ever",
    "complaints_30d": "complaints in 30 days",
}

_DERIVED_FACTS: dict[str, str] = {
    "weekday": "local weekday of the decision (0 Monday … 6 Sunday)",
    "day_of_month": "local day of the month (1-31)",
    "month": "local month (1-12)",
    "is_holiday": "the local date is a public holiday of the country (0/1)",
    "day_kind": "0 weekday, 1 Saturday, 2 Sunday, 3 public holiday",
    "breathing_space": "a breathing space (moratorium) is active today (0/1)",
    **{
        f"opted_out_{c.name.lower()}": f"the debtor opted out of {c.name} (0/1)"
        for c in CONTACT_CHANNELS
    },
    **{
        f"consent_granted_{c.name.lower()}": f"the debtor explicitly consented to {c.name} (0/1)"
        for c in CONTACT_CHANNELS
    },
}

PUBLIC_FACTS: dict[str, str] = {**_COLUMN_FACTS, **_DERIVED_FACTS}
"""Facts a ``when:`` condition may use, with their meaning (docs/rules.md lists them)."""

COUNTRY_FACT = "_country"


# Columns of the per-day count tensor: the contact channels, then the phone calls to
# exclude (not connected, placed with consent), which are subsets of the phone column.
_COUNT_COLUMNS: tuple[str, ...] = (
    *(c.name for c in CONTACT_CHANNELS),
    "PHONE_not_connected",
    "PHONE_with_consent",
)


@dataclass(frozen=True, slots=True)
class CountSpec:
    """Contacts counted by a contact limit: which channels, which window, which exclusions."""

    channels: tuple[int, ...]
    period: str
    """"rolling", "week" (Monday to today) or "month" (the 1st to today)."""
    days: int
    """Window length for "rolling" (today = 1)."""
    exclude_not_connected: bool = False
    exclude_with_consent: bool = False

    @property
    def fact(self) -> str:
        chans = "_".join(Channel(c).name.lower() for c in self.channels)
        window = f"{self.days}d" if self.period == "rolling" else self.period
        excl = ("_nc" if self.exclude_not_connected else "") + (
            "_pc" if self.exclude_with_consent else ""
        )
        return f"_count_{chans}_{window}{excl}"

    def terms(self) -> list[tuple[int, int]]:
        """(column of :data:`_COUNT_COLUMNS`, sign) pairs whose window sums make the count."""
        out = [(_COUNT_COLUMNS.index(Channel(c).name), 1) for c in self.channels]
        if Channel.PHONE in self.channels:
            if self.exclude_not_connected:
                out.append((_COUNT_COLUMNS.index("PHONE_not_connected"), -1))
            if self.exclude_with_consent:
                out.append((_COUNT_COLUMNS.index("PHONE_with_consent"), -1))
        return out


class FactContext:
    """What the fact derivation needs besides the batch: countries, calendars, counts,
    and which facts the ruleset reads (only those are derived)."""

    def __init__(
        self,
        country_ids: Mapping[str, int],
        calendars: Mapping[str, HolidayCalendar],
        count_specs: Sequence[CountSpec],
        needed: frozenset[str] | None = None,
        notice_specs: Sequence[NoticeSpec] = (),
    ) -> None:
        self.country_ids = dict(country_ids)
        self.calendars = dict(calendars)
        self.count_specs = tuple(count_specs)
        self.needed = (
            needed
            if needed is not None
            else frozenset(PUBLIC_FACTS)
            | {s.fact for s in self.count_specs}
            | {s.fact for s in notice_specs}
        )
        self.notice_specs = tuple(s for s in notice_specs if s.fact in self.needed)
        # The one-case path: plain "days since sending" periods are a subtraction; the
        # others (receipt delays, bank days) a remembered calendar computation.
        self.row_notices_plain = [
            (s.fact, s.since_column) for s in self.notice_specs if s.is_plain_days
        ]
        self.row_notices = [
            (s.fact, s.since_column, s) for s in self.notice_specs if not s.is_plain_days
        ]
        specs = [s for s in self.count_specs if s.fact in self.needed]
        self.count_names = [s.fact for s in specs]
        # Each count is a signed sum of "terms": one column's total over the window. All
        # terms of all counts are gathered from one cumulative-sum tensor in one go.
        terms = [(k, col, sign) for k, s in enumerate(specs) for col, sign in s.terms()]
        used = sorted({col for _, col, _ in terms})
        self.count_columns = used
        n_channels = len(CONTACT_CHANNELS)
        self.count_channel_values = [int(CONTACT_CHANNELS[c]) for c in used if c < n_channels]
        self.count_not_connected = _COUNT_COLUMNS.index("PHONE_not_connected") in used
        self.count_with_consent = _COUNT_COLUMNS.index("PHONE_with_consent") in used
        self.term_columns = np.array([used.index(col) for _, col, _ in terms], dtype=np.int64)
        self.term_signs = np.array([sign for _, _, sign in terms], dtype=np.int64)
        self.term_starts = np.array(
            [next(i for i, t in enumerate(terms) if t[0] == k) for k in range(len(specs))],
            dtype=np.int64,
        )
        self.term_offsets = np.array([specs[k].days - 1 for k, _, _ in terms], dtype=np.int64)
        self.term_week = np.array([specs[k].period == "week" for k, _, _ in terms])
        self.term_month = np.array([specs[k].period == "month" for k, _, _ in terms])
        self.calendar_counts = bool(self.term_week.any() or self.term_month.any())
        self.columns = [n for n in _COLUMN_FACTS if n in self.needed]
        self.wants_holiday = not self.needed.isdisjoint(("is_holiday", "day_kind"))
        # The one-case path (derive_facts_row): each count is a signed sum of window
        # totals of one per-day column; the windows (rolling N days, this week, this
        # month) become rows of a 0/1 matrix over the kept days, so one matrix product
        # per source array gives every window total at once.
        # A rolling window covers today at least (the rule-file model enforces days >= 1).
        assert all(spec.days >= 1 for spec in specs), "a rolling count over 0 days"
        self.row_windows: list[tuple[str, int]] = sorted(
            {(spec.period, spec.days if spec.period == "rolling" else 0) for spec in specs}
        )
        sources = {"PHONE_not_connected": 1, "PHONE_with_consent": 2}
        self.row_counts: list[tuple[str, tuple[tuple[int, int, int, int], ...]]] = [
            (
                spec.fact,
                tuple(
                    (
                        sources.get(_COUNT_COLUMNS[col], 0),
                        int(Channel[_COUNT_COLUMNS[col]]) if col < n_channels else 0,
                        sign,
                        self.row_windows.index(
                            (spec.period, spec.days if spec.period == "rolling" else 0)
                        ),
                    )
                    for col, sign in spec.terms()
                ),
            )
            for spec in specs
        ]
        self._window_matrices: dict[tuple[int, int], np.ndarray] = {}

    def window_matrix(self, weekday: int, day_of_month: int) -> np.ndarray:
        """(windows, HISTORY_DAYS) int64: row k is 1 on the day offsets window k covers
        (today = offset 0), as ``_counts`` clips them; cached per (weekday, day)."""
        key = (weekday, day_of_month)
        matrix = self._window_matrices.get(key)
        if matrix is None:
            matrix = np.zeros((len(self.row_windows), HISTORY_DAYS), dtype=np.int64)
            for k, (period, days) in enumerate(self.row_windows):
                last = {"week": weekday, "month": day_of_month - 1}.get(period, days - 1)
                matrix[k, : min(last, HISTORY_DAYS - 1) + 1] = 1
            matrix.flags.writeable = False
            self._window_matrices[key] = matrix  # a racing thread stores an equal matrix
        return matrix


# Plain ints: numpy compares with an IntEnum member through a slow generic path.
_OPTED_OUT = int(ConsentStatus.OPTED_OUT)
_GRANTED = int(ConsentStatus.GRANTED)
_CONSENT_FACTS = [
    (int(c), f"opted_out_{c.name.lower()}", f"consent_granted_{c.name.lower()}")
    for c in CONTACT_CHANNELS
]
_SMALL = 32
"""Below this many rows, Python lookups beat numpy's per-call set-up (the one-case path)."""


def derive_facts(
    batch: CaseBatch,
    local_dates: np.ndarray,
    context: FactContext,
    jurisdictions: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The facts ``context.needed`` for every row of ``batch``: integer (or 0/1 bool)
    arrays of length N.

    ``local_dates`` (``datetime64[D]``, one per row) is the debtor's local date of the
    decision; history offsets in the batch are counted from it. ``jurisdictions``: each
    row's rule-file code (a country or a subdivision like US-MA), default its country.
    Rows of a jurisdiction the context does not know get ``_country = -1`` (callers
    refuse them).
    """
    n = len(batch)
    needed = context.needed
    dates = np.asarray(local_dates).astype("datetime64[D]").reshape(n)
    # Native column dtypes are kept (bool, int16…): comparisons with Python ints are exact.
    out: dict[str, np.ndarray] = {name: getattr(batch, name) for name in context.columns}

    weekday = batch.weekday
    want_holiday = not needed.isdisjoint(("is_holiday", "day_kind"))
    country = batch.country if jurisdictions is None else np.asarray(jurisdictions)
    if n <= _SMALL:
        codes = country.tolist()
        out[COUNTRY_FACT] = np.array([context.country_ids.get(c, -1) for c in codes])
        if want_holiday:
            calendars = context.calendars
            flags = [
                code in calendars and calendars[code].is_holiday(day)
                for code, day in zip(codes, dates.tolist(), strict=True)
            ]
            out["is_holiday"] = np.array(flags, dtype=bool)
            out["day_kind"] = np.array(
                [
                    3 if h else max(w - 4, 0)  # same mapping as calendar.day_kinds
                    for h, w in zip(flags, weekday.tolist(), strict=True)
                ],
                dtype=np.int8,
            )
    else:
        uniq, inverse = np.unique(country, return_inverse=True)
        inverse = inverse.reshape(n)
        ids = np.array([context.country_ids.get(str(c), -1) for c in uniq.tolist()])
        out[COUNTRY_FACT] = ids[inverse]
        if want_holiday:
            holiday = np.zeros(n, dtype=bool)
            for k, code in enumerate(uniq.tolist()):
                calendar = context.calendars.get(code)
                if calendar is not None:
                    rows = inverse == k
                    holiday[rows] = calendar.holiday_mask(dates[rows])
            out["is_holiday"] = holiday
            out["day_kind"] = day_kinds(weekday, holiday)
    out["weekday"] = weekday
    day_of_month: np.ndarray | None = None
    if context.calendar_counts or not needed.isdisjoint(("day_of_month", "month")):
        month_start = dates.astype("datetime64[M]")
        day_of_month = (dates - month_start.astype("datetime64[D]")).astype(np.int64) + 1
        out["day_of_month"] = day_of_month
        out["month"] = month_start.astype(np.int64) % 12 + 1
    if "breathing_space" in needed:
        out["breathing_space"] = batch.breathing_space_days_left > 0
    opted_out = batch.consent == _OPTED_OUT
    granted = batch.consent == _GRANTED
    for c, opted_name, granted_name in _CONSENT_FACTS:
        out[opted_name] = opted_out[:, c]
        out[granted_name] = granted[:, c]

    if context.count_names:
        out.update(_counts(batch, weekday, day_of_month, context))
    if context.notice_specs:
        row_calendars = [context.calendars.get(code) for code in country.tolist()]
        for spec in context.notice_specs:
            since = getattr(batch, spec.since_column)
            out[spec.fact] = notice_units(spec, since, dates, row_calendars)
    return out


def derive_facts_row(
    row: Mapping[str, Any], local_day: date, context: FactContext, jurisdiction: str | None = None
) -> dict[str, int]:
    """:func:`derive_facts` for one case, as plain ints, from ``engine.state.case_row``.

    The service's per-case path: the same facts and values as row 0 of
    ``derive_facts(CaseBatch.from_states([state]), ...)`` (proved on 10,000 random cases by
    ``tests/engine/compliance/test_compliance_parity.py``), without the ~25 numpy calls
    whose fixed cost dominates a one-row batch.
    """
    code = jurisdiction or row["country"]
    weekday = int(row["weekday"])
    out: dict[str, int] = {name: int(row[name]) for name in context.columns}
    out[COUNTRY_FACT] = context.country_ids.get(code, -1)
    if context.wants_holiday:
        calendar = context.calendars.get(code)
        holiday = calendar is not None and calendar.is_holiday(local_day)
        out["is_holiday"] = int(holiday)
        out["day_kind"] = 3 if holiday else max(weekday - 4, 0)  # as calendar.day_kinds
    out["weekday"] = weekday
    out["day_of_month"] = local_day.day
    out["month"] = local_day.month
    out["breathing_space"] = int(row["breathing_space_days_left"] > 0)
    consent = row["consent"].tolist()
    for c, opted_name, granted_name in _CONSENT_FACTS:
        out[opted_name] = int(consent[c] == _OPTED_OUT)
        out[granted_name] = int(consent[c] == _GRANTED)
    if context.row_counts:
        out.update(_counts_row(row, weekday, local_day.day, context))
    for fact, column in context.row_notices_plain:
        since = int(row[column])
        out[fact] = NEVER if since >= NEVER else since - 1
    if context.row_notices:
        calendar = context.calendars.get(code)
        for fact, column, spec in context.row_notices:
            out[fact] = notice_units_row(spec, int(row[column]), local_day, calendar)
    return out


def _counts_row(
    row: Mapping[str, Any], weekday: int, day_of_month: int, context: FactContext
) -> dict[str, int]:
    """:func:`_counts` for one case: window totals by one small matrix product per
    per-day array, then plain-Python sums."""
    windows = context.window_matrix(weekday, day_of_month)
    totals = (
        windows.dot(row["contacts_by_day"]).tolist(),  # (windows, channels)
        windows.dot(row["calls_not_connected_by_day"]).tolist()
        if context.count_not_connected
        else [],
        windows.dot(row["calls_with_consent_by_day"]).tolist()
        if context.count_with_consent
        else [],
    )
    contacts, not_connected, with_consent = totals
    out: dict[str, int] = {}
    for name, terms in context.row_counts:
        total = 0
        for source, channel, sign, window in terms:
            if source == 0:
                total += sign * contacts[window][channel]
            elif source == 1:
                total += sign * not_connected[window]
            else:
                total += sign * with_consent[window]
        out[name] = total if total > 0 else 0
    return out


def _counts(
    batch: CaseBatch,
    weekday: np.ndarray,
    day_of_month: np.ndarray | None,
    context: FactContext,
) -> dict[str, np.ndarray]:
    """Every needed contact count from one cumulative-sum tensor: a fixed handful of array
    operations whatever the number of limits, which keeps the one-case path cheap.

    Exclusions are subtracted from window totals and the result clipped at 0; they are
    subsets of the phone column by construction (``summarise_history``).
    """
    parts: list[np.ndarray] = []
    if context.count_channel_values:
        parts.append(batch.contacts_by_day[:, :, context.count_channel_values])
    if context.count_not_connected:
        parts.append(batch.calls_not_connected_by_day[:, :, None])
    if context.count_with_consent:
        parts.append(batch.calls_with_consent_by_day[:, :, None])
    per_day = np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]
    cum = np.cumsum(per_day, axis=1, dtype=np.int64)  # (N, D, columns)
    offsets = context.term_offsets[None, :]
    if context.calendar_counts:
        assert day_of_month is not None
        offsets = np.where(
            context.term_week[None, :],
            weekday[:, None],
            np.where(context.term_month[None, :], day_of_month[:, None] - 1, offsets),
        )
    rows = np.arange(len(batch))[:, None]
    terms = cum[rows, np.minimum(offsets, HISTORY_DAYS - 1), context.term_columns[None, :]]
    values = np.maximum(np.add.reduceat(terms * context.term_signs, context.term_starts, axis=1), 0)
    return {name: values[:, k] for k, name in enumerate(context.count_names)}
