"""featurize_row (one case, plain Python) equals featurize (the batch path), bit for bit.

The batch path is the train/serve parity contract the policies were trained on; the
row path is its fast twin for a single decision. Hypothesis draws 10,000 case states
biased to the edges (NEVER, zero and negative balances, original 0, counts far above
the caps, every consent status, enum value, weekday, breathing-space boundary, contacts
on the window boundaries and in the kept days beyond them); the shipped example cases
are compared too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.catalogue import Channel
from engine.compliance import country_zones
from engine.convert import case_from_proto
from engine.features import FEATURE_NAMES, N_FEATURES, featurize, featurize_row
from engine.history import summarise_history
from engine.state import (
    HISTORY_DAYS,
    N_CHANNEL_SLOTS,
    NEVER,
    AgeBand,
    CaseBatch,
    CaseFlags,
    CaseSnapshot,
    CaseState,
    ConsentStatus,
    DebtorProfile,
    HistorySummary,
    Product,
    case_row,
)
from tact.v1 import case_pb2

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "cases").glob("*.json"))
STATES_PER_EXAMPLE = 100
EXAMPLES_DRAWN = 100  # x STATES_PER_EXAMPLE = 10,000 states

INT16_MAX, INT32, INT64 = 2**15 - 1, (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)


def assert_same_row(state: CaseState) -> np.ndarray:
    """featurize_row(case_row(state)) is featurize's one-row batch, bit for bit."""
    expected = featurize(CaseBatch.from_states([state]))[0]
    got = featurize_row(case_row(state))
    assert got.dtype == np.float32 and got.shape == (N_FEATURES,)
    if got.tobytes() != expected.tobytes():
        diff = np.flatnonzero(got.view(np.uint32) != expected.view(np.uint32))
        detail = ", ".join(f"{FEATURE_NAMES[i]}: {got[i]!r} != {expected[i]!r}" for i in diff)
        raise AssertionError(f"{state.snapshot.case_id}: {detail}")
    return got


# --- strategies ---------------------------------------------------------------------------

money = st.one_of(
    st.sampled_from([0, 1, -1, 99, 100, 2**53 + 1, INT64[0], INT64[1]]),
    st.integers(-100_000, 10**12),
    st.integers(*INT64),
)
whole_days = st.one_of(st.integers(-5, 400), st.integers(*INT32))
ratio = st.one_of(st.floats(0.0, 1.0), st.floats(-1e38, 1e38))  # stays finite in float32
count = st.one_of(st.integers(0, 12), st.integers(0, INT16_MAX))
days_since = st.one_of(
    st.just(NEVER), st.integers(0, 120), st.integers(NEVER, INT32[1]), st.sampled_from([89, 90])
)
maybe_until = st.one_of(st.none(), st.integers(-3, 40))  # days after the decision date
consents = st.dictionaries(st.sampled_from(list(Channel)), st.sampled_from(list(ConsentStatus)))
# Contacts on today, on the windows' edges (1/7/30 days) and on any kept day (also beyond
# the windows), in every slot (even NONE, which only days_since_last_contact reads).
contact_day = st.one_of(
    st.just(0),
    st.sampled_from([1, 6, 7, 29, 30, HISTORY_DAYS - 1]),
    st.integers(0, HISTORY_DAYS - 1),
)
contact_entries = st.lists(
    st.tuples(
        contact_day,
        st.sampled_from(list(Channel)),
        st.one_of(st.integers(1, 3), st.integers(1, 4000)),
    ),
    max_size=8,
)  # at most 8 x 4,000 contacts in one int16 cell


def contacts_array(entries: list[tuple[int, Channel, int]]) -> np.ndarray:
    by_day = np.zeros((HISTORY_DAYS, N_CHANNEL_SLOTS), dtype=np.int16)
    for day, channel, n in entries:
        by_day[day, channel] += n
    return by_day


contacts = contact_entries.map(contacts_array)

# The HistorySummary fields the features read (days_since_last_contact comes from contacts).
DAYS_SINCE = ("conversation", "first_reminder", "first_demand", "last_payment", "legal_escalation")
COUNTS = (
    "deliveries_30d",
    "opens_7d",
    "opens_30d",
    "clicks_30d",
    "conversations_30d",
    "payments_total",
    "promises_open",
    "promises_broken",
    "plans_broken",
    "complaints_total",
    "complaints_30d",
)
FLAG_FIELDS = (
    "dispute",
    "cease_communication",
    "vulnerable",
    "bankruptcy",
    "deceased",
    "mental_health_crisis",
    "time_barred",
    "hardship",
)


@st.composite
def case_states(draw: st.DrawFn, n: int) -> list[CaseState]:
    """``n`` case states mixed from small pools of values that Hypothesis draws.

    Hypothesis spends milliseconds on each drawn value, too slow for 10,000 states one by
    one; here each field draws a pool of 1-4 values (with Hypothesis's bias to edges) and
    every state picks one value per field from each pool, so one example yields ``n``
    varied states at the cost of a few.
    """
    rnd = draw(st.randoms(use_true_random=True))

    def pick(strategy: st.SearchStrategy[Any]) -> list[Any]:
        pool = draw(st.lists(strategy, min_size=1, max_size=4))
        return [rnd.choice(pool) for _ in range(n)]

    def flags() -> list[bool]:
        return pick(st.booleans())

    days = pick(st.dates(date(2020, 1, 1), date(2030, 12, 31)))  # every weekday
    case_until, history_until = pick(maybe_until), pick(maybe_until)
    columns = {
        **{name: flags() for name in FLAG_FIELDS},
        "outstanding_minor": pick(money),
        "original_minor": pick(money),
        "days_past_due": pick(whole_days),
        "product": pick(st.sampled_from(list(Product))),
        "age_band": pick(st.sampled_from(list(AgeBand))),
        "tenure_months": pick(whole_days),
        "prior_on_time_ratio": pick(ratio),
        "risk_score": pick(ratio),
        "has_app": flags(),
        "consents": pick(consents),
    }
    history_columns = {
        "contacts_by_day": pick(contacts),
        **{f"days_since_{e}": pick(days_since) for e in DAYS_SINCE},
        **{name: pick(count) for name in COUNTS},
        "paid_minor_total": pick(money),
        "plan_active": flags(),
        "dispute_open": flags(),
        "cease_requested": flags(),
        "bankruptcy": flags(),
        "deceased": flags(),
        "consent_overrides": pick(consents),
    }
    states = []
    for i, day in enumerate(days):
        c = {name: values[i] for name, values in columns.items()}
        h = {name: values[i] for name, values in history_columns.items()}
        snapshot = CaseSnapshot(
            case_id=f"h{i}",
            debtor_id="d",
            country="SE",
            timezone="Europe/Stockholm",
            currency="SEK",
            outstanding_minor=c["outstanding_minor"],
            original_minor=c["original_minor"],
            days_past_due=c["days_past_due"],
            product=c["product"],
            debtor=DebtorProfile(
                age_band=c["age_band"],
                tenure_months=c["tenure_months"],
                prior_on_time_ratio=c["prior_on_time_ratio"],
                risk_score=c["risk_score"],
                has_app=c["has_app"],
            ),
            consents=c["consents"],
            flags=CaseFlags(
                breathing_space_until=_after(day, case_until[i]),
                **{name: c[name] for name in FLAG_FIELDS},
            ),
        )
        history = HistorySummary(**h, breathing_space_until=_after(day, history_until[i]))
        # The arrays of one pool are shared between states: case_row reads them only.
        states.append(CaseState(snapshot, history, datetime.combine(day, time(), UTC), day))
    return states


def _after(day: date, offset: int | None) -> date | None:
    return None if offset is None else day + timedelta(days=offset)


# --- tests --------------------------------------------------------------------------------


def test_featurize_row_equals_batch_path_on_10k_hypothesis_states() -> None:
    """Derandomized (the same 10,000 states every run, ~5 s); a failure shrinks to a small
    pool and reports the differing features by name."""
    rows: list[np.ndarray] = []

    @settings(
        max_examples=EXAMPLES_DRAWN,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case_states(STATES_PER_EXAMPLE))
    def check(states: list[CaseState]) -> None:
        rows.extend(assert_same_row(s) for s in states)

    check()
    assert len(rows) >= 10_000
    # The draw must reach the edges, not only the middle: every feature takes several
    # values, every capped feature saturates, and every "never" pair is seen both ways.
    seen = np.stack(rows)
    names = np.array(FEATURE_NAMES)
    assert not [n for n, col in zip(names, seen.T, strict=True) if len(np.unique(col)) < 2]
    capped = [
        n
        for n in FEATURE_NAMES
        if n.startswith("contacts_") or n.endswith(("_30d", "_7d", "_total", "_open", "_broken"))
    ]
    assert not [n for n in capped if seen[:, FEATURE_NAMES.index(n)].max() != 4.0]
    for never in (n for n in FEATURE_NAMES if n.startswith("never_")):
        assert 0.05 < seen[:, FEATURE_NAMES.index(never)].mean() < 0.95, never
    for edge in ("outstanding_ratio", "paid_ratio"):
        column = seen[:, FEATURE_NAMES.index(edge)]
        assert (column == 0.0).any() and (column == 2.0).any(), edge


def test_days_since_last_contact_reads_day_totals_as_the_batch_does() -> None:
    """Counters are never negative, but the row path follows the batch's rule (the newest
    day whose total over all slots is positive) for any int16 array and memory layout."""
    day = date(2026, 11, 26)
    by_day = np.zeros((HISTORY_DAYS, N_CHANNEL_SLOTS), dtype=np.int16)
    by_day[2, Channel.SMS], by_day[2, Channel.PHONE] = 1, -1  # total 0: no contact
    by_day[3, Channel.EMAIL] = -2  # total -2: no contact
    by_day[5, Channel.LETTER] = 256  # zero low byte: the first nonzero byte is its high byte
    by_day[9, Channel.NONE] = 1
    column = FEATURE_NAMES.index("days_since_last_contact")
    for history_days, expected in (
        (by_day, 5 / 90),
        (np.asfortranarray(by_day), 5 / 90),
        (by_day[::-1], 25 / 90),  # a view with negative strides: day 9 is now day 25
        (np.zeros_like(by_day), 1.0),  # NEVER
    ):
        history = HistorySummary(contacts_by_day=history_days)
        snapshot = CaseSnapshot("c", "d", "SE", None, "SEK", 100, 100, 0)
        state = CaseState(snapshot, history, datetime.combine(day, time(), UTC), day)
        assert assert_same_row(state)[column] == np.float32(expected)


def load_state(path: Path, now: datetime) -> CaseState:
    """An example case as the service builds it: history in the debtor's local calendar."""
    case = json_format.Parse(path.read_text(), case_pb2.Case())
    snapshot, events = case_from_proto(case)
    zone = ZoneInfo(snapshot.timezone or country_zones(snapshot.country)[0])
    today = now.astimezone(zone).date()
    history = summarise_history(events, as_of=today, tz=zone)
    return CaseState(snapshot=snapshot, history=history, as_of=now, local_date=today)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_featurize_row_equals_batch_path_on_example_cases(path: Path) -> None:
    # A Thursday morning in Europe (the service tests' instant), then a week of later days.
    first = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    for days_later in range(8):
        assert_same_row(load_state(path, first + timedelta(days=days_later, hours=days_later)))


def test_example_cases_cover_the_contact_features() -> None:
    """The example comparison is not vacuous where it matters: the examples hold contacts."""
    assert len(EXAMPLES) == 10
    rows = [
        featurize_row(case_row(load_state(p, datetime(2026, 11, 26, 9, tzinfo=UTC))))
        for p in EXAMPLES
    ]
    contact_columns = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith("contacts_")]
    assert np.stack(rows)[:, contact_columns].any()
