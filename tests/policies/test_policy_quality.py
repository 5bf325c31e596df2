"""The shipped policy's claims, re-measured on fresh evaluation debtors (never read back
from its model card).

The champion is the better of ``segmented`` and ``best-simple`` on the same debtors
(``policies.comparison.champion``). Every comparison is paired (common random numbers) and
judged by its 95 % interval, not by a mean. The fast test runs in ``make test``; the
full-size ones are ``slow`` (``make test-slow``) and check the bars of docs/policies.md.

Seeds: training debtors lie below 1,000,000 and checkpoints are picked on 1,000,000, so the
seeds here (≥ 4,000,000) were never used to choose anything.
"""

from __future__ import annotations

import pytest

from engine.compliance import ComplianceEngine
from policies.comparison import champion, paired_difference, paired_relative_difference
from policies.evaluate import Evaluation, evaluate
from simulator.masks import compliance_masks
from simulator.scenario_loader import load_scenario

CANDIDATES = ["segmented", "best-simple", "default"]


def _evaluate(
    debtors: int, seed: int, *, randomise: bool = False, audit: int | None = 0
) -> Evaluation:
    engine = ComplianceEngine.load()
    return evaluate(
        load_scenario("nordic-telecom"),
        CANDIDATES,
        debtors,
        compliance_masks(),
        engine,
        seed=seed,
        randomise=randomise,
        batch_size=1000 if randomise else 4096,
        audit_contacts=audit,
    )


def test_the_shipped_policy_beats_the_champion_on_500_fresh_debtors() -> None:
    result = _evaluate(500, seed=4_000_000)
    best = champion(result)
    assert best in ("segmented", "best-simple")
    low = paired_difference(
        result.runs["default"].outcomes, result.runs[best].outcomes, "net_value_per_case"
    )[1]
    assert low > 0, f"net value per case vs {best}: the paired 95 % CI reaches {low:.2f}"


@pytest.mark.slow
def test_bar_on_20000_debtors_nominal() -> None:
    result = _evaluate(20_000, seed=5_000_000)
    best = champion(result)
    assert best is not None
    run, ref = result.runs["default"].outcomes, result.runs[best].outcomes
    rel = paired_relative_difference(run, ref, "net_value_per_case")
    assert rel[0] >= 10.0 and rel[1] > 5.0, f"net value vs {best}: {rel}"
    # Not above the champion: the paired difference is not significantly positive.
    for kpi in ("complaints_per_1000", "churn_90d"):
        low = paired_difference(run, ref, kpi)[1]
        assert low <= 0.0, f"{kpi} vs {best}: paired CI starts at {low:.2f} > 0"


@pytest.mark.slow
def test_bar_on_randomised_held_out_worlds() -> None:
    result = _evaluate(20_000, seed=6_000_000, randomise=True)
    best = champion(result)
    assert best is not None
    rel = paired_relative_difference(
        result.runs["default"].outcomes, result.runs[best].outcomes, "net_value_per_case"
    )
    assert rel[0] >= 5.0 and rel[1] > 0.0, f"net value vs {best} (randomised): {rel}"


@pytest.mark.slow
def test_every_contact_of_the_shipped_policy_passes_the_rules() -> None:
    engine = ComplianceEngine.load()
    result = evaluate(
        load_scenario("nordic-telecom"),
        ["default"],
        5_000,
        compliance_masks(),
        engine,
        seed=7_000_000,
        audit_contacts=None,  # all of them, through durable_rules
    )
    audit = result.runs["default"].audit
    assert audit.contacts_audited == audit.contacts_executed > 0
    assert audit.violations == 0 and audit.blocked_requests == 0
    assert audit.reconstruction_errors == 0
