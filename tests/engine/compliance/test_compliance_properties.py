"""Property tests: the verdict is exactly what the rule files say, at any time of day.

The oracle (rule_oracle.py) reads the rule files with its own code: its own YAML
reading and inheritance, its own condition evaluation and window parsing, facts from the
case state, holidays from the ``holidays`` package. Random cases are decided at random
local times (not at midnight, where every slot is still ahead). The engine's verdict
must agree with it on every catalogue entry (allowed or not), on every allowed entry's
UTC send window, on hold and human-only, and must explain every blocked entry with
rules that block it, and no allowed one.
"""

from __future__ import annotations

import numpy as np
import pytest
from compliance_factories import random_states
from rule_oracle import at_random_times, load_rules, verdict

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
    holds = allowed_some = 0
    for k, state in enumerate(at_random_times(random_states(engine, 1000, seed=seed), seed)):
        v = engine.evaluate(state)
        expected = verdict(state, oracle_rules[state.snapshot.country])
        where = f"{state.snapshot.country} {state.snapshot.timezone} {state.as_of} (UTC)"
        wrong = np.flatnonzero(v.mask != expected.mask)
        assert not wrong.size, (
            f"{where}: engine {'allows' if v.mask[wrong[0]] else 'blocks'} "
            f"{[CATALOGUE[int(i)].label for i in wrong[:3]]} (oracle: {expected.reasons[wrong[0]]})"
        )
        assert (v.hold, v.human_only) == (expected.hold, expected.human_only), where
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
