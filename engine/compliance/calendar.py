"""Local time for the rules: the country → time zones table, public holidays, kinds of day,
and conversion of local send windows to UTC instants (DST-correct via ``zoneinfo``).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import numpy as np

COUNTRY_TIMEZONES: dict[str, tuple[str, ...]] = {
    # Most populous zone first: it is the reference zone for a case without a time zone
    # (its local date and send slots); windows are then intersected across all zones.
    "US": (
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    ),
    "GB": ("Europe/London",),
    "SE": ("Europe/Stockholm",),
    "NO": ("Europe/Oslo",),
    "DK": ("Europe/Copenhagen",),
    "FI": ("Europe/Helsinki",),
    "DE": ("Europe/Berlin",),
}
"""Shipped table; a rule file's ``timezones:`` overrides it for its country."""

MINUTES_PER_DAY = 24 * 60


def country_zones(country: str) -> tuple[str, ...]:
    """IANA zones of a shipped country, most populous (the reference zone) first.

    A rule file may declare its own ``timezones:``; with an engine at hand,
    ``ComplianceEngine.timezones(country)`` is authoritative. Raises ``KeyError`` (with
    the known countries) for a country that is not in the shipped table.
    """
    try:
        return COUNTRY_TIMEZONES[country]
    except KeyError:
        known = ", ".join(sorted(COUNTRY_TIMEZONES))
        raise KeyError(
            f"no time zone table for country {country!r} (known: {known}); "
            "add `timezones:` to its rule file and use ComplianceEngine.timezones()"
        ) from None


class DayKind(IntEnum):
    """Which send window applies on a local date. A public holiday wins over its weekday."""

    WEEKDAY = 0
    SATURDAY = 1
    SUNDAY = 2
    HOLIDAY = 3


# Entries the holidays package may add that are not public holidays but plain Sundays
# (Sweden counts every Sunday as a holiday unless asked not to): a Sunday is a Sunday.
_PLAIN_SUNDAY_NAMES = frozenset({"Sunday", "Söndag", "söndag"})


@dataclass(frozen=True, slots=True)
class HolidaySource:
    """Which holidays apply to a jurisdiction."""

    country: str
    subdivision: str | None = None
    categories: tuple[str, ...] = ("public",)
    bank_categories: tuple[str, ...] | None = None
    """Holidays that are not bank days (besides Saturdays and Sundays); None: ``categories``."""


class HolidayCalendar:
    """Public holidays of one jurisdiction, computed lazily per year and cached."""

    def __init__(self, source: HolidaySource) -> None:
        self.source = source
        self._years: dict[int, frozenset[date]] = {}
        self._days: dict[int, np.ndarray] = {}
        self._bank_years: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        # Validate eagerly so that a wrong country/category is a load error, not a 3 a.m. one.
        self._holidays_for(2024)
        self._bank_holidays_for(2024)

    def _table(self, year: int, categories: tuple[str, ...]) -> frozenset[date]:
        src = self.source
        options: dict[str, Any] = {}
        cls = holidays.country_holidays(src.country).__class__
        if "include_sundays" in inspect.signature(cls.__init__).parameters:
            options["include_sundays"] = False
        table = holidays.country_holidays(
            src.country,
            subdiv=src.subdivision,
            years=year,
            categories=categories,
            **options,
        )
        return frozenset(
            day
            for day, name in table.items()
            if not (
                day.weekday() == 6
                and {n.strip() for n in str(name).split(";")} <= _PLAIN_SUNDAY_NAMES
            )
        )

    def _holidays_for(self, year: int) -> frozenset[date]:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        days = self._table(year, self.source.categories)
        with self._lock:
            self._years[year] = days
            self._days[year] = np.array(sorted(days), dtype="datetime64[D]")
        return days

    def _bank_holidays_for(self, year: int) -> np.ndarray:
        cached = self._bank_years.get(year)
        if cached is not None:
            return cached
        categories = self.source.bank_categories or self.source.categories
        days = np.array(sorted(self._table(year, categories)), dtype="datetime64[D]")
        self._bank_years[year] = days  # a racing thread stores an equal array
        return days

    def bank_holidays(self, first_year: int, last_year: int) -> np.ndarray:
        """Weekday holidays that are not bank days, ``first_year`` to ``last_year``, sorted
        (``datetime64[D]``), for numpy's ``busday_*`` functions."""
        years = range(max(first_year, 1), min(last_year, 9998) + 1)
        parts = [self._bank_holidays_for(y) for y in years]
        return np.concatenate(parts) if parts else np.array([], dtype="datetime64[D]")

    def is_holiday(self, day: date) -> bool:
        return day in self._holidays_for(day.year)

    def holiday_mask(self, days: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`is_holiday` over a ``datetime64[D]`` array."""
        days = days.astype("datetime64[D]")
        if days.size <= 32:  # the one-case path: a set lookup beats np.isin's set-up cost
            return np.array([self.is_holiday(d) for d in days.tolist()], dtype=bool)
        years = days.astype("datetime64[Y]").astype(int) + 1970
        for year in np.unique(years).tolist():
            self._holidays_for(int(year))
        tables = [self._days[int(y)] for y in np.unique(years).tolist()]
        table = np.concatenate(tables) if tables else np.array([], dtype="datetime64[D]")
        return np.isin(days, table)

    def day_kind(self, day: date) -> DayKind:
        if self.is_holiday(day):
            return DayKind.HOLIDAY
        weekday = day.weekday()
        if weekday == 5:
            return DayKind.SATURDAY
        if weekday == 6:
            return DayKind.SUNDAY
        return DayKind.WEEKDAY


def day_kinds(weekday: np.ndarray, holiday: np.ndarray) -> np.ndarray:
    """Vectorised :meth:`HolidayCalendar.day_kind` from weekday (Mon = 0) and holiday flags."""
    # Arithmetic rather than masked assignment: a few ufuncs, cheap for one row too.
    # weekday 5 → 1 (Saturday), 6 → 2 (Sunday), else 0; a holiday → 3.
    kinds = np.maximum(weekday.astype(np.int8) - 4, 0)
    return np.where(holiday, np.int8(3), kinds)


def validate_holiday_source(source: HolidaySource) -> str | None:
    """None if ``holidays`` knows the source, else what is wrong."""
    try:
        HolidayCalendar(source)
    except (NotImplementedError, KeyError, ValueError) as exc:
        return str(exc) or exc.__class__.__name__
    return None


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """UTC instant of ``minute`` minutes after local midnight of ``day`` (1440 = next day)."""
    extra, minute = divmod(minute, MINUTES_PER_DAY)
    local = datetime.combine(day + timedelta(days=extra), time(minute // 60, minute % 60), tz)
    return local.astimezone(UTC)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return local_instant(day, 0, tz)


def intersect_utc(
    day: date, start: int, end: int, zones: Sequence[ZoneInfo]
) -> tuple[datetime, datetime] | None:
    """UTC interval of local minutes ``[start, end)`` on ``day`` that holds in every zone."""
    lo = max(local_instant(day, start, z) for z in zones)
    hi = min(local_instant(day, end, z) for z in zones)
    return (lo, hi) if lo < hi else None
