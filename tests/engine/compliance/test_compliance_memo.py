"""The engine asks durable_rules once per distinct fact set and remembers the answer.

The memo must be invisible in the verdicts (same as asking durable_rules every time, at
any time of day), bounded, and private to one engine (one ruleset version).
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import numpy as np
from compliance_factories import random_states

from engine.catalogue import Channel
from engine.compliance import ComplianceEngine, RulesHolder
from engine.compliance.sampling import make_state
from engine.state import HistorySummary


def _fresh() -> ComplianceEngine:
    """An engine of its own (``load`` returns a shared, cached one)."""
    return ComplianceEngine(ComplianceEngine.load().compiled)


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert np.array_equal(a.mask, b.mask)
    assert a.rule_ids == b.rule_ids
    assert (a.hold, a.human_only) == (b.hold, b.human_only)
    assert a.shaping_hits == b.shaping_hits


def test_memo_answers_repeats_without_durable_and_changes_no_verdict() -> None:
    memo, plain = _fresh(), _fresh()
    plain.fired_memo_size = 0
    states = random_states(memo, 300, seed=7)
    first = [memo.evaluate(s) for s in states]
    posts = memo.durable_posts
    assert 0 < posts <= len(states)
    again = [memo.evaluate(s) for s in states]
    assert memo.durable_posts == posts, "a repeated fact set went to durable_rules again"
    for a, b, c in zip(first, again, (plain.evaluate(s) for s in states), strict=True):
        _same(a, b)
        _same(a, c)
    assert plain.durable_posts == len(states)  # without the memo: one post per verdict


def test_memo_keys_on_facts_not_on_the_time_of_day() -> None:
    """Same facts at another minute: no new post, but the windows follow the clock."""
    engine = _fresh()
    day = date(2026, 11, 26)  # a Thursday
    morning = engine.evaluate(make_state("US", day, at=time(9, 0), engine=engine))
    posts = engine.durable_posts
    evening = engine.evaluate(make_state("US", day, at=time(20, 30), engine=engine))
    assert engine.durable_posts == posts
    assert morning.rule_ids == evening.rule_ids
    assert evening.mask.sum() < morning.mask.sum(), "later in the day fewer slots are open"


def test_memo_is_bounded() -> None:
    engine = _fresh()
    engine.fired_memo_size = 5
    for state in random_states(engine, 40, seed=11):
        engine.evaluate(state)
        assert len(engine._fired_memo) <= 5
    assert engine.durable_posts > 5


def test_a_reloaded_rule_is_applied_to_a_fact_set_seen_before(rules_copy: Path) -> None:
    """The memo lives in one engine: an edited rule answers anew for the same case."""
    holder = RulesHolder(rules_copy)
    history = HistorySummary()
    history.contacts_by_day[1:3, Channel.PHONE] = 1  # two calls in the last 7 days
    state = make_state("SE", date(2026, 11, 26), at=time(9, 0), history=history)
    before = holder.current.evaluate(state)
    assert "SE.calls.per-week" not in before.rule_ids  # 2 of at most 3: a third is fine
    posts = holder.current.durable_posts
    assert holder.current.evaluate(state).rule_ids == before.rule_ids
    assert holder.current.durable_posts == posts  # answered by the memo
    path = rules_copy / "SE.yaml"
    path.write_text(path.read_text().replace("max: 3", "max: 2", 1))
    assert holder.reload(trigger="test").changed
    after = holder.current.evaluate(state)
    assert "SE.calls.per-week" in after.rule_ids  # 2 of at most 2: no third call
    assert after.mask.sum() < before.mask.sum()
