"""The shipped RL model's claims, re-measured on fresh evaluation debtors (never read back
from its model card).

The champion is the better of ``segmented`` and ``best-simple`` on the same debtors
(``policies.comparison.champion``). Every comparison is paired (common random numbers) and
judged by its 95 % interval, not by a mean. The fast test runs in ``make test``; the
full-size ones are ``slow`` (``make test-slow``) and check the bars of docs/policies.md;
the two bars the model does not meet are strict ``xfail``s that name the measured shortfall
(they fail the suite the day a model meets them, so the marker has to go).

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

CANDIDATES = ["segmented", "best-simple", "rl:default"]
RL = "rl:default"


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


def test_the_shipped_model_earns_more_net_value_than_the_champion_on_fresh_debtors() -> None:
    result = _evaluate(4_000, seed=4_000_000)
    best = champion(result)
    assert best in ("segmented", "best-simple")
    low = paired_difference(
        result.runs[RL].outcomes, result.runs[best].outcomes, "net_value_per_case"
    )[1]
    assert low > 0, f"net value per case vs {best}: the paired 95 % CI reaches {low:.2f}"


SHORT_OF_THE_BAR = (
    "rl:default earns +2.86 [+2.11, +3.61] net value per case over the champion (+0.93 % net "
    "collections) but complains +6.75 [+3.91, +9.59] per 1,000 more (20,000 debtors, seed "
    "3,000,000; docs/policies.md, Results): it is served as the challenger, not the default"
)


def _assert_bar(result: Evaluation, *, gain_pct: float) -> None:
    """The issue's bar against the champion, on the scale where a percentage means something:
    net value is close to 0 for every good policy (the churn price dominates it), so the
    relative gain is taken on net collections; complaints and churn not above."""
    best = champion(result)
    assert best is not None
    run, ref = result.runs[RL].outcomes, result.runs[best].outcomes
    assert paired_difference(run, ref, "net_value_per_case")[1] > 0.0
    rel = paired_relative_difference(run, ref, "net_collections_per_case")
    assert rel[0] >= gain_pct and rel[1] > gain_pct / 2, f"net collections vs {best}: {rel}"
    for kpi in ("complaints_per_1000", "churn_90d"):
        low = paired_difference(run, ref, kpi)[1]
        assert low <= 0.0, f"{kpi} vs {best}: paired CI starts at {low:.2f} > 0"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=SHORT_OF_THE_BAR)
def test_bar_on_20000_debtors_nominal() -> None:
    _assert_bar(_evaluate(20_000, seed=5_000_000), gain_pct=10.0)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=SHORT_OF_THE_BAR)
def test_bar_on_randomised_held_out_worlds() -> None:
    _assert_bar(_evaluate(20_000, seed=6_000_000, randomise=True), gain_pct=5.0)


@pytest.mark.slow
def test_every_contact_of_the_shipped_policy_passes_the_rules() -> None:
    engine = ComplianceEngine.load()
    result = evaluate(
        load_scenario("nordic-telecom"),
        [RL],
        5_000,
        compliance_masks(),
        engine,
        seed=7_000_000,
        audit_contacts=None,  # all of them, through durable_rules
    )
    audit = result.runs[RL].audit
    assert audit.contacts_audited == audit.contacts_executed > 0
    assert audit.violations == 0 and audit.blocked_requests == 0
    assert audit.reconstruction_errors == 0
