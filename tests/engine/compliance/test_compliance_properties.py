"""Property tests: the verdict is exactly what the rule files say, at any time of day.

The oracle (rule_oracle.py) reads the rule files with its own code: its own YAML
reading and inheritance, its own condition evaluation and window parsing, facts from the
case state, holidays from the ``holidays`` package. Random cases are decided at random
local times (not at midnight, where every slot is still ahead). The engine's verdict
must agree with it on every catalogue entry (allowed or not), on every allowed entry's
UTC send window, on hold and human-only, on whose rules decided (a subdivision's file,
or its country's with ``tact.subdivision-unknown``), and must explain every blocked entry
with rules that block it, and no allowed one.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from compliance_factories import random_states
from rule_oracle import (
    at_random_times,
    is_bank_day,
    load_rules,
    notice_last_day,
    verdict,
    with_unknown_subdivisions,
)

from engine.catalogue import CATALOGUE, Action
from engine.compliance import ComplianceEngine
from engine.compliance.verdict import SLOT_PASSED


@pytest.fixture(scope="module")
def oracle_rules(engine: ComplianceEngine):  # type: ignore[no-untyped-def]
    rules = load_rules(engine.rules_dir)
    assert set(rules) == set(engine.countries)
    return rules


@pytest.mark.parametrize("seed", [1, 2])
def test_verdict_agrees_with_an_independent_reading_of_the_rule_files(
    engine: ComplianceEngine,
    oracle_rules,
    seed: int,  # type: ignore[no-untyped-def]
) -> None:
    holds = allowed_some = unknown_subdivisions = 0
    states = with_unknown_subdivisions(random_states(engine, 1000, seed=seed), seed)
    for k, state in enumerate(at_random_times(states, seed)):
        v = engine.evaluate(state)
        expected = verdict(state, oracle_rules)
        snap = state.snapshot
        where = f"{snap.subdivision or snap.country} {snap.timezone} {state.as_of} (UTC)"
        wrong = np.flatnonzero(v.mask != expected.mask)
        assert not wrong.size, (
            f"{where}: engine {'allows' if v.mask[wrong[0]] else 'blocks'} "
            f"{[CATALOGUE[int(i)].label for i in wrong[:3]]} (oracle: {expected.reasons[wrong[0]]})"
        )
        assert (v.hold, v.human_only) == (expected.hold, expected.human_only), where
        # Whose rules decided: a subdivision without a file is said so, first.
        built_in = [i for i in v.rule_ids if i.startswith("tact.subdivision")]
        assert built_in == v.rule_ids[: len(built_in)] == expected.notes, (where, v.rule_ids)
        unknown_subdivisions += bool(expected.notes)
        holds += int(not v.mask[1:].any())
        allowed_some += int(v.mask[1:].any())
        for i in np.flatnonzero(v.mask).tolist():
            if i != CATALOGUE.WAIT_INDEX:
                assert v.window_utc(i) == expected.windows[i], (where, CATALOGUE[i].label)
        # Every blocked entry is explained by rules that do block it; none allowed is.
        for i in range(1, len(CATALOGUE)) if k % 4 == 0 else ():
            hits = {h.rule_id for h in v.hits_for(i)}
            if v.mask[i]:
                assert not hits
            else:
                assert hits, f"{CATALOGUE[i].label} blocked without a reason"
                assert hits <= expected.reasons[i] | {SLOT_PASSED.rule_id}, (where, hits)
        if v.human_only:
            allowed = np.flatnonzero(v.mask)[1:]
            assert all(CATALOGUE[int(i)].action is Action.AGENT_CALL for i in allowed)
    # The draw exercises both sides: some cases fully blocked, most partly open.
    assert 100 < holds < 900 and allowed_some > 100
    assert unknown_subdivisions > 30


def test_the_oracle_counts_notice_periods_as_documented(oracle_rules) -> None:  # type: ignore[no-untyped-def]
    """The oracle's own reading of ``min_notice`` on worked examples (docs/rules.md and the
    rule files' comments), so that it cannot share a miscount with the engine."""

    def notice(code: str, rule_id: str) -> tuple[dict, object]:  # type: ignore[type-arg]
        rules = oracle_rules[code]
        [rule] = [r for r in rules.rules if r["id"] == rule_id]
        return rule["min_notice"], rules.calendar

    # An inkassokrav sent on 2 March gives 3-10 March (8 days): legal action from 11 March.
    eight_days, se = notice("SE", "legal.notice")
    assert notice_last_day(eight_days, date(2026, 3, 2), se) == date(2026, 3, 10)
    # Sent Thursday 17 December: received Monday 21st (2 bank days), then 4 bank days:
    # 22, 23, (24 julafton: a de facto holiday, banks closed; 25 Christmas; weekend) 28, 29.
    bank_days, se = notice("SE", "SE.legal.bank-days")
    assert notice_last_day(bank_days, date(2026, 12, 17), se) == date(2026, 12, 29)
    assert notice_last_day(eight_days, date(2026, 12, 17), se) == date(2026, 12, 25)
    assert not is_bank_day(date(2026, 12, 24), se) and is_bank_day(date(2026, 12, 23), se)
    # Reg F: a validation notice sent Friday 20 November 2026 is received 5 days later not
    # counting weekends and Thanksgiving (26th): Monday 30th; the period ends 30 days later.
    validation, us = notice("US", "US.validation-period")
    assert notice_last_day(validation, date(2026, 11, 20), us) == date(2026, 12, 30)
    # Massachusetts inherits it, with Patriots' Day (20 April 2026) not a bank day: sent
    # Wednesday 15 April, received Thursday 23rd (16, 17, 21, 22, 23).
    validation_ma, ma = notice("US-MA", "US.validation-period")
    assert notice_last_day(validation_ma, date(2026, 4, 15), ma) == date(2026, 5, 23)
    assert notice_last_day(validation, date(2026, 4, 15), us) == date(2026, 5, 22)
