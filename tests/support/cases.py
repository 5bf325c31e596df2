"""Cases for policy tests, built as the service builds them: a CaseState through the real
featurizer, so a policy sees exactly the observation it would see in production."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from engine.catalogue import Channel
from engine.features import featurize
from engine.state import (
    AgeBand,
    CaseBatch,
    CaseFlags,
    CaseSnapshot,
    CaseState,
    ConsentStatus,
    DebtorProfile,
    HistorySummary,
)

AS_OF = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)  # a Wednesday


def case_state(
    *,
    dpd: int = 31,
    balance_minor: int = 400_000,
    profile: DebtorProfile | None = None,
    flags: CaseFlags | None = None,
    consents: dict[Channel, ConsentStatus] | None = None,
    contacts: dict[tuple[int, Channel], int] | None = None,
    **history: Any,
) -> CaseState:
    """A Swedish case (4,000.00 unless ``balance_minor``, 45–64, risk 0.5 unless
    ``profile``); ``contacts`` maps (days ago, channel) → count; ``history`` sets
    :class:`HistorySummary` fields."""
    h = HistorySummary(**history)
    for (ago, channel), count in (contacts or {}).items():
        h.contacts_by_day[ago, channel] = count
    snapshot = CaseSnapshot(
        case_id="c1",
        debtor_id="d1",
        country="SE",
        timezone="Europe/Stockholm",
        currency="SEK",
        outstanding_minor=balance_minor,
        original_minor=balance_minor,
        days_past_due=dpd,
        debtor=profile or DebtorProfile(age_band=AgeBand.AGE_45_64, risk_score=0.5),
        consents=consents or {},
        flags=flags or CaseFlags(),
    )
    return CaseState(snapshot=snapshot, history=h, as_of=AS_OF, local_date=date(2026, 3, 11))


def observe(*states: CaseState) -> np.ndarray:
    """The observation matrix of ``states``, one row each."""
    return featurize(CaseBatch.from_states(list(states)))
