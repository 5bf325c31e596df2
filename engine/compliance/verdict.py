"""The compliance verdict: the action mask over the catalogue, and why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from engine.catalogue import CATALOGUE
from engine.state import CaseSnapshot


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that blocked or restricted something: for the audit trail and explanations."""

    rule_id: str
    message: str
    citation: str


# Built-in reasons that do not come from a rule file.
SLOT_PASSED = RuleHit(
    "tact.slot-passed",
    "the send slot's allowed time has already passed in the debtor's local time",
    "tact engine (a step cannot be sent in the past)",
)
UNKNOWN_TIMEZONE = RuleHit(
    "tact.timezone-unknown",
    "the debtor's time zone is unknown: only times allowed in every zone of the country",
    "12 CFR 1006.6(b)(1)(i) and its commentary (UNCONFIRMED comment number); tact policy",
)
SEND_SLOTS = RuleHit(
    "tact.send-slots",
    "tact sends timed contacts only within its send slots (08:00-21:00 local time)",
    "tact treatment catalogue (engine/catalogue.py): tact's own sending hours, cited only "
    "where no rule of the jurisdiction excludes the time",
)
SUBDIVISION_UNKNOWN_ID = "tact.subdivision-unknown"


def subdivision_unknown(snapshot: CaseSnapshot) -> RuleHit:
    """The note that a case's subdivision has no rule file: its country's rules decided."""
    return RuleHit(
        SUBDIVISION_UNKNOWN_ID,
        f"no rule file for subdivision {snapshot.subdivision}: the rules of "
        f"{snapshot.country} apply",
        "tact engine (rules/<subdivision>.yaml, e.g. rules/US-MA.yaml, extends the country's)",
    )


FAIL_CLOSED = RuleHit(
    "tact.fail-closed",
    "no compliance verdict could be produced: nothing but WAIT is allowed",
    "tact engine (fail closed)",
)


@dataclass(slots=True)
class ComplianceVerdict:
    """What may be done with one case now, and why not the rest.

    ``mask[i]`` is True when catalogue entry ``i`` is allowed; ``mask[0]`` (WAIT) always
    is. ``hits_for(i)`` explains a blocked entry; ``window_utc(i)`` gives an allowed
    entry's UTC send interval on the decision's local day.
    """

    ruleset_version: str
    country: str
    local_date: date
    as_of: datetime
    timezone: str | None
    """The zone used, or None when the case had none (windows hold in every zone)."""
    mask: np.ndarray
    human_only: bool
    hold: bool
    shaping_hits: list[RuleHit]
    """Every rule that restricted anything in this verdict, in rule-file order, once each."""
    # Explanations and UTC windows are computed on demand: most callers need the mask only.
    _reasons: Callable[[int], list[RuleHit]] = field(default=lambda i: [], repr=False)
    _window: Callable[[int], tuple[datetime, datetime] | None] = field(
        default=lambda i: None, repr=False
    )
    _reasons_at: Callable[[Sequence[int], datetime], list[RuleHit]] | None = field(
        default=None, repr=False
    )

    def hits_for(self, index: int) -> list[RuleHit]:
        """Why entry ``index`` is blocked; ``[]`` if it is allowed (WAIT never is blocked)."""
        if self.mask[index]:
            return []
        return self._reasons(index)

    def reasons_at(self, indices: Sequence[int], instant: datetime) -> list[RuleHit]:
        """The rules that block every one of ``indices`` (alternatives of one step, e.g.
        its tones) at ``instant`` of this verdict's local day: block rules, the send
        windows that exclude the instant (in every zone when the zone is unknown), and
        ``tact.send-slots`` where only tact's own send slots do. Empty when one of them is
        allowed at that instant."""
        if self._reasons_at is None:  # a wait-only verdict: everything but WAIT is refused
            return [] if CATALOGUE.WAIT_INDEX in indices else self._reasons(indices[0])
        return self._reasons_at(indices, instant)

    def window_utc(self, index: int) -> tuple[datetime, datetime] | None:
        """Allowed UTC interval of entry ``index``'s send slot on the local day; None if
        blocked. WAIT has no send time (None). Letters: the whole allowed posting day."""
        if index == CATALOGUE.WAIT_INDEX or not self.mask[index]:
            return None
        return self._window(index)

    @property
    def allowed_indices(self) -> np.ndarray:
        return np.flatnonzero(self.mask)

    @property
    def rule_ids(self) -> list[str]:
        return [h.rule_id for h in self.shaping_hits]

    @classmethod
    def wait_only(
        cls,
        *,
        ruleset_version: str,
        country: str,
        local_date: date,
        as_of: datetime,
        reason: RuleHit = FAIL_CLOSED,
        hits: Sequence[RuleHit] = (),
    ) -> ComplianceVerdict:
        """A verdict allowing nothing but WAIT (fail closed), each entry blamed on ``reason``."""
        mask = np.zeros(len(CATALOGUE), dtype=bool)
        mask[CATALOGUE.WAIT_INDEX] = True
        blame = [reason, *hits]
        return cls(
            ruleset_version=ruleset_version,
            country=country,
            local_date=local_date,
            as_of=as_of,
            timezone=None,
            mask=mask,
            human_only=False,
            hold=True,
            shaping_hits=blame,
            _reasons=lambda i: list(blame),
        )
