"""The simulator's numpy path equals the service's durable_rules path (train/serve parity),
and both equal an independent reading of the rule files (rule_oracle.py).

10,000 seeded random fact sets are compared in bulk, and a Hypothesis test explores
cases built from strategies (with shrinking, to report a minimal counterexample). The
numpy path decides at the start of the local day; the durable path is also compared with
the oracle at random times of day.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from compliance_factories import CONTACT, jurisdictions_of, make_state, random_states
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rule_oracle import at_random_times, load_rules, verdict, with_unknown_subdivisions

from engine.catalogue import CATALOGUE, Channel
from engine.compliance import ComplianceEngine
from engine.compliance.facts import derive_facts, derive_facts_row
from engine.state import (
    HISTORY_DAYS,
    NEVER,
    CaseBatch,
    CaseFlags,
    ConsentStatus,
    HistorySummary,
    case_row,
)

N_BULK = 10_000


def _compare(engine: ComplianceEngine, states: list) -> None:
    batch = CaseBatch.from_states(states)
    dates = np.array([s.local_date for s in states], dtype="datetime64[D]")
    batch_masks = engine.mask_batch(batch, dates, jurisdictions_of(engine, states))
    assert batch_masks.shape == (len(states), len(CATALOGUE))
    for i, state in enumerate(states):
        verdict = engine.evaluate(state)
        if not np.array_equal(verdict.mask, batch_masks[i]):
            diff = np.flatnonzero(verdict.mask != batch_masks[i])
            labels = [CATALOGUE[int(j)].label for j in diff[:5]]
            raise AssertionError(
                f"row {i} ({state.snapshot.country}, {state.local_date}): durable and numpy "
                f"masks differ at {labels}; durable hits: {verdict.rule_ids}"
            )


def test_batch_mask_equals_durable_mask_on_10k_random_fact_sets(
    engine: ComplianceEngine,
) -> None:
    states = random_states(engine, N_BULK, seed=20240311)
    # The draw must actually exercise the rules, not only the all-allowed corner.
    batch = CaseBatch.from_states(states)
    dates = np.array([s.local_date for s in states], dtype="datetime64[D]")
    codes = jurisdictions_of(engine, states)
    fired = engine.fired_batch(batch, dates, codes)
    assert fired.any(axis=0).mean() > 0.9, "most clauses should fire somewhere"
    masks = engine.mask_batch(batch, dates, codes)
    assert 0.05 < masks[:, 1:].mean() < 0.8
    _compare(engine, states)


@st.composite
def cases(draw: st.DrawFn, countries: list[str]):  # type: ignore[no-untyped-def]
    country = draw(st.sampled_from(countries))
    day = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 730)))
    small = st.integers(0, 20)
    since = st.one_of(st.just(NEVER), st.integers(0, 45))
    h = HistorySummary()
    for offset in draw(st.lists(st.integers(0, HISTORY_DAYS - 1), max_size=12)):
        channel = draw(st.sampled_from(CONTACT))
        h.contacts_by_day[offset, channel] += 1
        if channel is Channel.PHONE:
            kind = draw(st.sampled_from(["connected", "not_connected", "consent"]))
            if kind == "not_connected":
                h.calls_not_connected_by_day[offset] += 1
            elif kind == "consent":
                h.calls_with_consent_by_day[offset] += 1
    h.days_since_conversation = draw(since)
    h.days_since_first_reminder = draw(since)
    h.days_since_first_written_reminder = draw(since)
    h.days_since_first_demand = draw(since)
    h.days_since_call_consent = draw(since)
    h.days_since_breathing_space_started = draw(st.one_of(st.just(NEVER), small))
    flags = CaseFlags(
        dispute=draw(st.booleans()),
        vulnerable=draw(st.booleans()),
        hardship=draw(st.booleans()),
        time_barred=draw(st.booleans()),
        mental_health_crisis=draw(st.booleans()),
    )
    consents = draw(st.dictionaries(st.sampled_from(CONTACT), st.sampled_from(list(ConsentStatus))))
    return country, day, flags, h, consents, draw(st.booleans())


def test_batch_mask_equals_durable_mask_hypothesis(engine: ComplianceEngine) -> None:
    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(cases(sorted(engine.countries)))
    def check(case: tuple) -> None:  # type: ignore[type-arg]
        country, day, flags, history, consents, has_app = case
        state = make_state(
            country,
            day,
            flags=flags,
            history=history,
            consents=consents,
            has_app=has_app,
            engine=engine,
        )
        _compare(engine, [state])

    check()


def test_batch_path_rejects_unknown_countries(engine: ComplianceEngine) -> None:
    from engine.compliance import UnknownCountryError

    state = make_state("US", date(2024, 3, 12), engine=engine)
    bad = replace(state, snapshot=replace(state.snapshot, country="XX"))
    batch = CaseBatch.from_states([state, bad])
    dates = np.array([state.local_date] * 2, dtype="datetime64[D]")
    try:
        engine.mask_batch(batch, dates)
    except UnknownCountryError as exc:
        assert exc.country == "XX"
    else:  # pragma: no cover
        raise AssertionError("an unknown country must not get a mask")


def test_durable_mask_equals_the_independent_oracle_on_10k_cases_at_random_times(
    engine: ComplianceEngine,
) -> None:
    """The durable_rules path against rule_oracle.py (its own reading of the rule files)
    on the bulk cases (some of them in a subdivision without a rule file), each decided
    at a random local time: slots that have passed, windows that have not opened yet, the
    whole day."""
    rules = load_rules(engine.rules_dir)
    drawn = with_unknown_subdivisions(random_states(engine, N_BULK, seed=20240311), seed=11)
    states = at_random_times(drawn, seed=11)
    morning_over = 0  # the morning slot's time has passed: some slots closed by the clock
    counted_in_bank_days = {  # notice periods with a receipt delay or counted in bank days
        r["id"]
        for jurisdiction in rules.values()
        for r in jurisdiction.rules
        if "bank_days" in r.get("min_notice", {})
        or r.get("min_notice", {}).get("received_after_bank_days")
    }
    bank_day_periods = Counter[str]()
    subdivisions = 0
    for i, state in enumerate(states):
        v = engine.evaluate(state)
        expected = verdict(state, rules)
        bank_day_periods.update(expected.running_notices & counted_in_bank_days)
        subdivisions += state.snapshot.subdivision is not None
        if not np.array_equal(v.mask, expected.mask):
            diff = np.flatnonzero(v.mask != expected.mask)
            snap = state.snapshot
            raise AssertionError(
                f"row {i} ({snap.subdivision or snap.country}, {state.as_of} UTC): engine "
                f"and oracle differ at {[CATALOGUE[int(j)].label for j in diff[:5]]}"
            )
        local = state.as_of.astimezone(ZoneInfo(state.snapshot.timezone or ""))
        morning_over += int(local.hour >= 11)
    assert N_BULK // 3 < morning_over < N_BULK
    # ... each bank-day notice period still running in some cases; subdivisions with and
    # without a rule file.
    assert counted_in_bank_days and all(bank_day_periods[r] > 50 for r in counted_in_bank_days), (
        bank_day_periods
    )
    assert subdivisions > N_BULK // 10


def test_row_facts_equal_batch_facts_on_10k_random_cases(engine: ComplianceEngine) -> None:
    """The service's one-case facts (``derive_facts_row``) are the batch facts, fact by fact."""
    states = random_states(engine, N_BULK, seed=20261126)
    context = engine.compiled.fact_context
    batch = CaseBatch.from_states(states)
    dates = np.array([s.local_date for s in states], dtype="datetime64[D]")
    codes = jurisdictions_of(engine, states)
    assert "US-MA" in codes.tolist(), "the draw should cover a subdivision"
    columns = derive_facts(batch, dates, context, codes)
    names = sorted(set(columns) & context.needed | {"_country"})
    assert set(engine.compiled.durable_facts) <= set(names)
    table = np.column_stack([columns[n].astype(np.int64) for n in names]).tolist()
    counts_nonzero = 0
    for i, state in enumerate(states):
        row_facts = derive_facts_row(case_row(state), state.local_date, context, codes[i])
        got = [row_facts[n] for n in names]
        if got != table[i]:
            wrong = [n for n, a, b in zip(names, got, table[i], strict=True) if a != b]
            raise AssertionError(f"row {i} ({state.snapshot.country}): facts differ: {wrong}")
        counts_nonzero += any(row_facts[n] for n in context.count_names)
    assert counts_nonzero > N_BULK // 4, "the draw should exercise the contact counts"
