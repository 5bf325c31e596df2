"""Jurisdictions: countries (``US``) and their subdivisions (``US-MA``, ISO 3166-2).

A subdivision's rule file (``rules/US-MA.yaml``) extends its country's (``extends: US``):
it inherits the country's rules, time zones and holidays, and adds or replaces rules the
way a country file does with the defaults. A case names its subdivision optionally; the
subdivision's rules apply when there is a file for it, the country's otherwise (and the
verdict says so with ``tact.subdivision-unknown``).
"""

from __future__ import annotations

import re

import holidays

from engine.compliance.calendar import COUNTRY_TIMEZONES, HolidaySource
from engine.compliance.model import RuleFile

SUBDIVISION_PATTERN = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")
"""ISO 3166-2 codes as tact accepts them: the country, a hyphen, 1–3 capitals or digits."""


def is_subdivision(code: str) -> bool:
    return SUBDIVISION_PATTERN.fullmatch(code) is not None


def country_of(code: str) -> str:
    """``US`` for ``US-MA`` (and for ``US``)."""
    return code[:2]


def holiday_source(rf: RuleFile, country_file: RuleFile | None = None) -> HolidaySource:
    """Which holidays apply to the jurisdiction of ``rf``: its ``holidays:`` if given; for a
    subdivision without one, its country's (``country_file``) with the subdivision's own
    holidays added when the ``holidays`` package knows them (e.g. Patriots' Day in US-MA)."""
    spec = rf.holidays
    if spec is None and country_file is not None and is_subdivision(rf.jurisdiction):
        base = holiday_source(country_file)
        part = rf.jurisdiction[3:]
        known = holidays.country_holidays(base.country).__class__.subdivisions
        return HolidaySource(
            base.country, part if part in known else None, base.categories, base.bank_categories
        )
    if spec is None:
        return HolidaySource(country_of(rf.jurisdiction))
    return HolidaySource(
        spec.country or country_of(rf.jurisdiction),
        spec.subdivision,
        tuple(spec.categories),
        tuple(spec.bank_categories) if spec.bank_categories is not None else None,
    )


def time_zones(rf: RuleFile, country_file: RuleFile | None = None) -> tuple[str, ...]:
    """IANA zones of the jurisdiction of ``rf``, most populous first: its ``timezones:``,
    else (a subdivision) its country's, else the shipped table's."""
    if rf.timezones:
        return tuple(rf.timezones)
    if country_file is not None and country_file.timezones:
        return tuple(country_file.timezones)
    return COUNTRY_TIMEZONES.get(country_of(rf.jurisdiction), ())
