"""The oracle: reads the simulator's hidden state, respects masks, is never served."""

from __future__ import annotations

import numpy as np
import pytest

from engine.catalogue import CATALOGUE
from engine.compliance import ComplianceEngine
from engine.errors import PolicyLoadError
from policies.base import check_decisions
from policies.comparison import policy_kpis
from policies.evaluate import evaluate
from policies.oracle import HiddenStateConsumer, OraclePolicy
from policies.registry import available_policies, load_policy
from simulator.batched import BatchedCollectionsSim
from simulator.masks import compliance_masks
from simulator.scenario_loader import load_scenario


def test_the_registry_never_serves_the_oracle() -> None:
    assert not any("oracle" in name for name in available_policies())
    with pytest.raises(PolicyLoadError, match="unknown policy"):
        load_policy("oracle")


def test_act_refuses_without_the_simulator() -> None:
    oracle = OraclePolicy()
    assert isinstance(oracle, HiddenStateConsumer)
    masks = np.ones((2, len(CATALOGUE)), dtype=bool)
    with pytest.raises(RuntimeError, match="observe_hidden"):
        oracle.act(np.zeros((2, 80), dtype=np.float32), masks)


def test_act_refuses_observations_of_another_simulator() -> None:
    sim = BatchedCollectionsSim(load_scenario("nordic-telecom"), 4, compliance_masks(), seed=1)
    sim.reset()
    oracle = OraclePolicy()
    oracle.observe_hidden(sim)
    with pytest.raises(ValueError, match="do not match"):
        oracle.act(sim.observe()[:2], sim.action_masks()[:2])


def test_choices_are_allowed_and_use_the_hidden_state() -> None:
    sim = BatchedCollectionsSim(load_scenario("nordic-telecom"), 256, compliance_masks(), seed=3)
    obs = sim.reset()
    oracle = OraclePolicy()
    contacted_days = 0
    for _ in range(20):
        oracle.observe_hidden(sim)
        masks = sim.action_masks()
        decisions = oracle.act(obs, masks)
        check_decisions(decisions, masks)
        contacted_days += int((decisions.indices != 0).any())
        sim.step(decisions.indices)
        obs = sim.observe()
    assert contacted_days > 0
    # Gains are finite where defined and WAIT is the zero point.
    oracle.observe_hidden(sim)
    gain = oracle.expected_gain(sim)
    assert gain.shape == (256, len(CATALOGUE))
    assert np.isfinite(gain).all()
    assert (gain[:, CATALOGUE.WAIT_INDEX] == 0).all()


def test_knowing_the_debtor_beats_the_hand_written_strategies() -> None:
    result = evaluate(
        load_scenario("nordic-telecom"),
        ["ladder", "segmented", "oracle"],
        300,
        compliance_masks(),
        ComplianceEngine.load(),
        seed=1_000_011,
        audit_contacts=100,
    )
    net = {name: policy_kpis(result, name)["net_value_per_case"]["mean"] for name in result.runs}
    reward = {name: policy_kpis(result, name)["reward_per_case"]["mean"] for name in result.runs}
    assert net["oracle"] > net["segmented"] > net["ladder"]
    assert reward["oracle"] > reward["segmented"]
    assert result.runs["oracle"].audit.violations == 0
