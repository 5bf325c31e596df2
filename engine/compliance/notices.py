"""Notice periods (``min_notice``): how much of the period a notice gave has run out.

A notice (a demand, a reminder) gives the debtor a period to pay or object. Its days are
counted from the day after the notice was *received*, which is the day it was sent, or
``received_after`` bank days later (e.g. Reg F's assumed receipt five days, excluding
weekends and federal holidays, after the validation notice is provided); the period lasts
N days or N bank days and ends at the end of its last day, so the steps it holds back are
allowed from 00:00 local the day after. An inkassokrav sent on 2 March with 8 days:
3–10 March, legal action from 11 March.

Bank days are Monday to Friday except the jurisdiction's bank holidays
(``holidays.bank_categories`` of the rule file, default its holiday categories).

The fact of one kind of period is the number of its units (days or bank days) that were
complete before the local day of the decision; ``NEVER`` when no such notice was sent.
A rule blocks while it is below the period's length. Both evaluation paths compute it
here: :func:`notice_units` over batch columns, :func:`notice_units_row` for one case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from engine.compliance.calendar import HolidayCalendar
from engine.state import NEVER


@dataclass(frozen=True, slots=True)
class NoticeSpec:
    """One kind of notice period used by the rules."""

    event: str
    """``first_reminder``, ``first_written_reminder`` or ``first_demand``."""
    received_after: int = 0
    """Bank days from sending to assumed receipt (0: received the day it is sent)."""
    bank_days: bool = False
    """The period counts bank days (else calendar days)."""

    @property
    def fact(self) -> str:
        unit = "bank_days" if self.bank_days else "days"
        return f"_notice_{self.event}_r{self.received_after}_{unit}"

    @property
    def is_plain_days(self) -> bool:
        """Days from the day after sending: the fact is ``days_since - 1``."""
        return self.received_after == 0 and not self.bank_days

    @property
    def since_column(self) -> str:
        """The history column with the local days since the notice was sent."""
        return f"days_since_{self.event}"


def notice_units(
    spec: NoticeSpec,
    since: np.ndarray,
    dates: np.ndarray,
    calendars: list[HolidayCalendar | None],
) -> np.ndarray:
    """The fact of ``spec`` per row: ``since`` (days since sending), ``dates`` (local
    decision days, ``datetime64[D]``), ``calendars`` (each row's; None: no bank holidays)."""
    since = since.astype(np.int64)
    never = since >= NEVER
    if spec.is_plain_days:
        return np.where(never, NEVER, since - 1)
    out = np.full(since.shape, NEVER, dtype=np.int64)
    sent_all = dates - np.where(never, 0, since).astype("timedelta64[D]")
    for calendar in {id(c): c for c in calendars}.values():
        rows = np.flatnonzero(~never & np.array([c is calendar for c in calendars], dtype=bool))
        if rows.size == 0:
            continue
        sent, today = sent_all[rows], dates[rows]
        holidays = _bank_holidays(calendar, sent.min(), today.max())
        receipt = (
            np.busday_offset(sent, spec.received_after, roll="backward", holidays=holidays)
            if spec.received_after
            else sent
        )
        if spec.bank_days:
            out[rows] = np.busday_count(receipt + 1, today, holidays=holidays)
        else:
            out[rows] = (today - receipt).astype(np.int64) - 1
    return out


def notice_units_row(
    spec: NoticeSpec, since: int, today: date, calendar: HolidayCalendar | None
) -> int:
    """:func:`notice_units` for one case (remembered: a day's cases share few values)."""
    if since >= NEVER:
        return NEVER
    if spec.is_plain_days:
        return since - 1
    return _units_row(spec, today - timedelta(days=since), today, calendar)


@lru_cache(maxsize=8192)
def _units_row(spec: NoticeSpec, sent: date, today: date, calendar: HolidayCalendar | None) -> int:
    [value] = notice_units(
        spec,
        np.array([(today - sent).days]),
        np.array([today], dtype="datetime64[D]"),
        [calendar],
    ).tolist()
    return int(value)


def _bank_holidays(
    calendar: HolidayCalendar | None, first: np.datetime64, last: np.datetime64
) -> np.ndarray:
    if calendar is None:
        return np.array([], dtype="datetime64[D]")
    first_year = int(first.astype("datetime64[Y]").astype(int)) + 1970
    # Receipt may fall in the year after the last decision day's (a notice sent late in
    # December): one year more.
    last_year = int(last.astype("datetime64[Y]").astype(int)) + 1970 + 1
    return calendar.bank_holidays(first_year, last_year)
