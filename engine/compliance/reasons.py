"""Why a step is blocked: the rules behind a verdict's refusals, for the audit trail, the
officers' explanations and ``CheckAction``.

Two questions, two functions:

* :func:`entry_reasons` — why is catalogue entry *i* (a step in one send slot) not open
  in the rest of the verdict's day? Block rules, then the send windows that leave its slot
  empty (or ``tact.slot-passed`` / ``tact.timezone-unknown``).
* :func:`instant_reasons` — why can a step not be taken at one instant? Block rules, the
  send windows that exclude that instant (in every zone of the country when the zone is
  unknown), and ``tact.send-slots`` only when no rule excludes the instant but tact's own
  send slots do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from engine.catalogue import CATALOGUE
from engine.compliance.calendar import local_instant
from engine.compliance.clauses import Clause
from engine.compliance.verdict import SEND_SLOTS, SLOT_PASSED, UNKNOWN_TIMEZONE, RuleHit


@dataclass(frozen=True, slots=True)
class SlotPair:
    """A (channel, send slot) combination: every catalogue entry sharing it shares a window."""

    channel: int
    slot: int
    start: int
    end: int
    """The slot's local minutes [start, end) in the reference zone."""


@dataclass(frozen=True, slots=True)
class FiredRules:
    """What a verdict's reasons need: the fired clauses and the day they apply to."""

    clauses: tuple[Clause, ...]
    block: np.ndarray
    """(clauses, catalogue) bool: which entries each clause blocks."""
    block_ids: Sequence[int]
    window_ids: Sequence[int]
    local_day: date
    zones: tuple[ZoneInfo, ...]
    """The case's zone, or every zone of the country (the first is the reference)."""
    pair_of: Callable[[int], SlotPair]
    """The (channel, slot) pair of a catalogue entry."""

    def blocks(self, index: int) -> list[RuleHit]:
        return [self.clauses[c].rule.hit for c in self.block_ids if self.block[c, index]]

    def channel_windows(self, channel: int) -> list[Clause]:
        return [
            self.clauses[c] for c in self.window_ids if channel in self.clauses[c].window_channels
        ]


def entry_reasons(
    fired: FiredRules,
    index: int,
    *,
    pair_open: bool,
    w_start: Sequence[int],
    w_end: Sequence[int],
) -> list[RuleHit]:
    """Why entry ``index`` is blocked for the rest of the day (``pair_open``: its slot's
    window is still open, so only block rules can be the reason)."""
    hits = fired.blocks(index)
    if pair_open:
        return dedupe(hits)
    pair = fired.pair_of(index)
    ch = pair.channel
    lo, hi = max(pair.start, w_start[ch]), min(pair.end, w_end[ch])
    if lo >= hi:
        windows = fired.channel_windows(ch)
        own = [c for c in windows if not _overlaps(c.window, pair.start, pair.end)]
        hits.extend(c.rule.hit for c in (own or windows))
    elif len(fired.zones) > 1 and not _open_in_every_zone(fired, pair, w_start[ch], w_end[ch]):
        hits.append(UNKNOWN_TIMEZONE)
    else:  # the window exists but ended before the decision instant
        hits.append(SLOT_PASSED)
    return dedupe(hits)


def instant_reasons(fired: FiredRules, indices: Sequence[int], instant: datetime) -> list[RuleHit]:
    """The rules that block every one of ``indices`` (alternatives of one step) at
    ``instant`` of the verdict's day, each once, in rule order. Empty when one of them is
    allowed at that instant."""
    hits: list[RuleHit] = []
    for index in indices:
        mine = _reasons_at(fired, index, instant)
        if not mine:
            return []
        hits.extend(mine)
    return dedupe(hits)


def _reasons_at(fired: FiredRules, index: int, instant: datetime) -> list[RuleHit]:
    hits = fired.blocks(index)
    if index == CATALOGUE.WAIT_INDEX:
        return hits
    pair = fired.pair_of(index)
    ref, day = fired.zones[0], fired.local_day
    window_excluded = excluded_elsewhere = False
    for clause in fired.channel_windows(pair.channel):
        if clause.window is None:  # no sending at all on this kind of day
            outside = [True]
        else:
            lo, hi = clause.window
            outside = [
                not local_instant(day, lo, zone) <= instant < local_instant(day, hi, zone)
                for zone in fired.zones
            ]
        if any(outside):
            hits.append(clause.rule.hit)
            window_excluded = True
            excluded_elsewhere |= not outside[0]
    if excluded_elsewhere:  # allowed in the reference zone, not in another zone
        hits.append(UNKNOWN_TIMEZONE)
    in_slot = local_instant(day, pair.start, ref) <= instant < local_instant(day, pair.end, ref)
    if not in_slot and not window_excluded:  # no rule sets these hours: tact's own slots do
        hits.append(SEND_SLOTS)
    return hits


def _open_in_every_zone(fired: FiredRules, pair: SlotPair, w_start: int, w_end: int) -> bool:
    """Whether the channel window [w_start, w_end), held in every zone, meets the pair's
    slot (read in the reference zone) at all, ignoring the decision time."""
    day, ref = fired.local_day, fired.zones[0]
    start = max(
        [local_instant(day, w_start, z) for z in fired.zones]
        + [local_instant(day, pair.start, ref)]
    )
    end = min(
        [local_instant(day, w_end, z) for z in fired.zones] + [local_instant(day, pair.end, ref)]
    )
    return start < end


def _overlaps(window: tuple[int, int] | None, start: int, end: int) -> bool:
    return window is not None and max(window[0], start) < min(window[1], end)


def dedupe(hits: Sequence[RuleHit]) -> list[RuleHit]:
    """``hits`` without repeats of a rule id, first occurrence kept."""
    seen: set[str] = set()
    out = []
    for h in hits:
        if h.rule_id not in seen:
            seen.add(h.rule_id)
            out.append(h)
    return out
