"""Fixtures of the debtor-behaviour simulator tests: the real rule files and scenarios."""

from __future__ import annotations

import pytest

from engine.compliance import ComplianceEngine
from simulator.scenario import Scenario
from simulator.scenario_loader import load_scenario


@pytest.fixture(scope="session")
def compliance_engine() -> ComplianceEngine:
    """The compliance engine compiled from the repository's rules/ (the shield)."""
    return ComplianceEngine.load()


@pytest.fixture(scope="session")
def nordic_telecom() -> Scenario:
    return load_scenario("nordic-telecom")


@pytest.fixture(scope="session")
def consumer_credit() -> Scenario:
    return load_scenario("consumer-credit")
