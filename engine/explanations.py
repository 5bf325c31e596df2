"""Decisions in words: the one-sentence explanation of a decision, and the jurisdictions
text of an unknown country's refusal (:mod:`engine.pipeline` writes them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.catalogue import CATALOGUE, Treatment
from engine.compliance.jurisdictions import is_subdivision
from engine.timetext import LocalTimeText

_TREATMENTS = CATALOGUE.treatments


def contact_text(treatment: Treatment) -> str:
    what = (
        f"{treatment.action.name.replace('_', ' ').lower()} by "
        f"{treatment.channel.name.lower()}, {treatment.tone.name.lower()} tone"
    )
    if treatment.offer.name != "NONE":
        what += f", offer {treatment.offer.name}"
    return what


CONTACT_TEXT = tuple(contact_text(t) for t in _TREATMENTS)
"""What each catalogue entry does, in words (the explanation's head for a contact)."""

_WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_ABBR = (
    "",
    *("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
)


def _minute_text(local: datetime) -> str:
    """``f"{local:%a %d %b %H:%M}"`` as strftime writes it in the C locale (Python never
    sets LC_TIME by itself), without strftime."""
    return (
        f"{_WEEKDAY_ABBR[local.weekday()]} {local.day:02d} {_MONTH_ABBR[local.month]} "
        f"{local.hour:02d}:{local.minute:02d}"
    )


local_minute = LocalTimeText(_minute_text)
"""A send or review time in the debtor's zone, for the explanation."""


def explain(
    index: int,
    send_at: datetime | None,
    next_review: datetime | None,
    zone: ZoneInfo,
    allowed: int,
    chosen_by: str,
    rule_ids: Sequence[str],
) -> str:
    """The decision in one sentence. ``index``: the chosen catalogue entry; ``allowed``:
    how many contact steps the mask allowed; ``chosen_by``: the policy and its arm, e.g.
    ``ladder (champion)``; ``rule_ids``: the shaping rules, once each."""
    if send_at is not None:
        head = f"{CONTACT_TEXT[index]} at {local_minute(send_at, zone)} local ({zone.key})"
    else:
        assert next_review is not None
        head = f"wait review again {local_minute(next_review, zone)} local"
    n = len(rule_ids)
    restricted = f"; restricted today by {', '.join(rule_ids[:4])}" if n else ""
    if n > 4:
        restricted += f" (+{n - 4} more)"
    return f"{head}; chosen by {chosen_by} among {allowed} allowed contact steps{restricted}."


def jurisdictions_text(codes: frozenset[str]) -> str:
    """Which ``Case.country`` values have rules (subdivisions are not countries: they are
    named apart, as ``Case.subdivision`` values)."""
    countries = sorted(c for c in codes if not is_subdivision(c))
    subdivisions = sorted(c for c in codes if is_subdivision(c))
    text = f"Countries with rules: {', '.join(countries)}"
    if subdivisions:
        text += f" (subdivisions with their own: {', '.join(subdivisions)})"
    return text


__all__ = ["CONTACT_TEXT", "contact_text", "explain", "jurisdictions_text", "local_minute"]
