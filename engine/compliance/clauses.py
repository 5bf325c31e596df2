"""One rule → its *clauses*: a condition over facts and one primitive effect each, the
form both evaluation paths (``durable_rules`` and numpy) share.

A clause either blocks a fixed set of catalogue entries (block, hold, human-only,
contact limit, cool-down, consent, minimum notice) or restricts the send window of some
channels (send_window). :mod:`engine.compliance.compiler` reads and validates the files,
resolves inheritance and lowers every rule in effect with :func:`lower_rule`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.catalogue import CATALOGUE, CONTACT_CHANNELS, Action, Channel, Offer, Slot, Tone
from engine.compliance import expressions as ex
from engine.compliance.calendar import MINUTES_PER_DAY, DayKind
from engine.compliance.facts import CountSpec
from engine.compliance.model import ConsentRequirement, ExclusionName, Rule, Selector, parse_window
from engine.compliance.notices import NoticeSpec
from engine.compliance.verdict import RuleHit
from engine.state import NEVER

_IS_CONTACT = CATALOGUE.actions != Action.WAIT


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule as the verdict and the explanations see it."""

    id: str
    title: str
    citation: str
    message: str
    file: Path
    line: int
    effect: str
    when: str | None
    model: Rule = field(repr=False, compare=False)
    """The validated rule as written (for tools and independent checks)."""

    @property
    def hit(self) -> RuleHit:
        return RuleHit(self.id, self.message, self.citation)


@dataclass(frozen=True, slots=True)
class Clause:
    """One primitive effect of one rule, under one condition (country test excluded)."""

    name: str
    """Rule name in the durable_rules ruleset."""
    rule: RuleRef
    country: str
    condition: ex.Expr
    blocked: np.ndarray | None = None
    """Bool mask of the catalogue entries this clause blocks (None for a window clause)."""
    hold: bool = False
    human_only: bool = False
    window_channels: tuple[int, ...] = ()
    window: tuple[int, int] | None = None
    """Allowed local minutes [start, end) for ``window_channels``; None = no sending."""

    @property
    def is_window(self) -> bool:
        return bool(self.window_channels)


def lower_rule(
    rule: Rule,
    ref: RuleRef,
    country: str,
    when: ex.Expr,
    *,
    count_specs: dict[CountSpec, None],
    notice_specs: dict[NoticeSpec, None],
) -> Iterator[Clause]:
    """The clauses of ``rule`` (of jurisdiction ``country``, its ``when:`` parsed as
    ``when``); the contact counts and notice periods they read are added to
    ``count_specs`` and ``notice_specs`` (ordered sets: the fact derivation computes each
    once for the whole ruleset)."""

    def block(
        condition: ex.Expr, blocked: np.ndarray, hold: bool = False, human_only: bool = False
    ) -> Clause:
        return Clause("", ref, country, ex.all_of(when, condition), blocked, hold, human_only)

    if rule.block is not None:
        yield block(ex.TRUE, selector_mask(rule.block))
    elif rule.hold is not None:
        yield block(ex.TRUE, _IS_CONTACT.copy(), hold=True)
    elif rule.human_only is not None:
        tones = [Tone[t.value] for t in rule.human_only.tones]
        human = (CATALOGUE.actions == Action.AGENT_CALL) & np.isin(CATALOGUE.tones, tones)
        yield block(ex.TRUE, _IS_CONTACT & ~human, human_only=True)
    elif rule.send_window is not None:
        sw = rule.send_window
        channels = tuple(sorted(int(Channel[c.value]) for c in sw.channels))
        by_window: dict[tuple[int, int] | None, list[DayKind]] = {}
        for kind, text in (
            (DayKind.WEEKDAY, sw.weekday),
            (DayKind.SATURDAY, sw.saturday),
            (DayKind.SUNDAY, sw.sunday),
            (DayKind.HOLIDAY, sw.holiday),
        ):
            by_window.setdefault(parse_window(text) if text else None, []).append(kind)
        for window, kinds in by_window.items():
            if window == (0, MINUTES_PER_DAY):
                continue  # no restriction at all on these days
            on_days = (
                ex.TRUE
                if len(kinds) == len(DayKind)
                else ex.any_of(*(ex.Cmp("day_kind", "==", int(k)) for k in kinds))
            )
            yield Clause(
                "",
                ref,
                country,
                ex.all_of(when, on_days),
                window_channels=channels,
                window=window,
            )
    elif rule.contact_limit is not None:
        cl = rule.contact_limit
        counted = [Channel[c.value] for c in cl.channels] if cl.channels else list(CONTACT_CHANNELS)
        period = "rolling" if cl.per is None or cl.per.value == "day" else cl.per.value
        spec = CountSpec(
            channels=tuple(sorted(int(c) for c in counted)),
            period=period,
            days=cl.within_days or 1,
            exclude_not_connected=ExclusionName.calls_not_connected in cl.exclude,
            exclude_with_consent=ExclusionName.calls_with_consent in cl.exclude,
        )
        count_specs[spec] = None
        targets = cl.blocks or cl.channels
        blocked = (
            _channel_mask([Channel[c.value] for c in targets]) if targets else _IS_CONTACT.copy()
        )
        yield block(ex.Cmp(spec.fact, ">=", cl.max), blocked)
    elif rule.cool_down is not None:
        cd = rule.cool_down
        yield block(
            ex.Cmp("days_since_conversation", "<", cd.days),
            _channel_mask([Channel[c.value] for c in cd.channels]),
        )
    elif rule.channel_consent is not None:
        cc = rule.channel_consent
        for name in cc.channels:
            channel = Channel[name.value]
            low = channel.name.lower()
            condition = (
                ex.Cmp(f"opted_out_{low}", "!=", 0)
                if cc.require is ConsentRequirement.not_opted_out
                else ex.Cmp(f"consent_granted_{low}", "==", 0)
            )
            yield block(condition, _channel_mask([channel]))
    elif rule.min_notice is not None:
        mn = rule.min_notice
        notice = NoticeSpec(
            event=mn.after.value,
            received_after=mn.received_after_bank_days,
            bank_days=mn.bank_days is not None,
        )
        notice_specs[notice] = None
        length = mn.bank_days if mn.bank_days is not None else mn.days
        assert length is not None  # the model requires one of the two
        yield block(
            ex.any_of(ex.Cmp(notice.fact, "<", length), ex.Cmp(notice.fact, ">=", NEVER)),
            selector_mask(mn.blocks),
        )


def _channel_mask(channels: Iterable[Channel]) -> np.ndarray:
    return _IS_CONTACT & np.isin(CATALOGUE.channels, [int(c) for c in channels])


def selector_mask(selector: Selector) -> np.ndarray:
    """Catalogue entries (never WAIT) matching every dimension the selector lists."""
    mask = _IS_CONTACT.copy()
    dims: list[tuple[np.ndarray, list[Any] | None, Any]] = [
        (CATALOGUE.actions, selector.actions, Action),
        (CATALOGUE.channels, selector.channels, Channel),
        (CATALOGUE.tones, selector.tones, Tone),
        (CATALOGUE.offers, selector.offers, Offer),
        (CATALOGUE.slots, selector.slots, Slot),
    ]
    for column, names, enum in dims:
        if names is not None:
            mask &= np.isin(column, [int(enum[n.value]) for n in names])
    return mask
