"""The champion: the better of ``segmented`` and ``best-simple`` by net value per case."""

from __future__ import annotations

import pytest

from engine.compliance import ComplianceEngine
from policies.base import Policy
from policies.comparison import CHAMPION_CANDIDATES, champion
from policies.evaluate import Evaluation, evaluate, resolve_policy
from policies.simple import SimplePolicy, SimpleStrategy
from simulator.kpis import compute_kpis
from simulator.scenario_loader import load_scenario


def _evaluation(best_simple: str) -> Evaluation:
    """segmented and, as ``best-simple``, the member ``best_simple`` on the same debtors."""

    def load(spec: str) -> Policy:
        if spec == "best-simple":
            return SimplePolicy(SimpleStrategy.parse(best_simple), name="best-simple")
        return resolve_policy(spec)

    engine = ComplianceEngine.load()
    return evaluate(
        load_scenario("nordic-telecom"),
        list(CHAMPION_CANDIDATES),
        300,
        engine,
        engine,
        seed=5,
        audit_contacts=0,
        load=load,
    )


@pytest.mark.parametrize(
    "member",
    [
        "PLAN_6/EMPATHETIC/SMS>EMAIL>LETTER/MORNING/every-3d",  # cheap, read, an offer
        "DEMAND/FIRM/LETTER/MORNING/every-1d",  # a firm letter a day: 1.5 each
    ],
)
def test_the_champion_is_the_better_by_mean_net_value(member: str) -> None:
    evaluation = _evaluation(member)
    net = {
        name: compute_kpis(run.outcomes)["net_value_per_case"].mean
        for name, run in evaluation.runs.items()
    }
    assert net["segmented"] != net["best-simple"]
    assert champion(evaluation) == max(net, key=lambda name: net[name])


def test_the_letter_a_day_is_not_the_champion() -> None:
    assert champion(_evaluation("DEMAND/FIRM/LETTER/MORNING/every-1d")) == "segmented"


def test_the_champion_is_among_the_candidates_evaluated() -> None:
    evaluation = _evaluation("REMINDER/NEUTRAL/SMS/MORNING/every-7d")
    del evaluation.runs["best-simple"]
    assert champion(evaluation) == "segmented"  # the only candidate evaluated
    del evaluation.runs["segmented"]
    assert champion(evaluation) is None  # no candidate: no champion (the report says so)
