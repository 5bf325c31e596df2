"""Scenario YAML: shipped files load; bad files fail with file, line, field and a fix."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.errors import ScenarioError, ScenarioNotFoundError
from simulator.population import PopulationSampler
from simulator.scenario import Param, Prob
from simulator.scenario_loader import (
    SCENARIO_DIR,
    available_scenarios,
    load_scenario,
    parse_scenario,
)

NORDIC = (SCENARIO_DIR / "nordic-telecom.yaml").read_text()


def _line_of(text: str, needle: str) -> int:
    lines = text.splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def test_shipped_scenarios_load() -> None:
    names = available_scenarios()
    assert {"nordic-telecom", "consumer-credit"} <= set(names)
    for name in names:
        scenario = load_scenario(name)
        assert scenario.name == name


def test_second_scenario_is_another_debt_type_in_other_countries() -> None:
    credit = load_scenario("consumer-credit")
    assert credit.product == "CONSUMER_CREDIT"
    assert not credit.churn.enabled
    countries = {c.country for c in credit.population.countries}
    assert {"US", "GB", "DE", "SE"} <= countries
    us = next(c for c in credit.population.countries if c.country == "US")
    assert len(us.timezones) >= 3


def test_unknown_field_names_line_and_allowed_fields() -> None:
    text = NORDIC.replace("    willingness: {value: 0.90", "    willingnes: {value: 0.90", 1)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, source="bad.yaml")
    message = str(err.value)
    line = _line_of(text, "willingnes: {value: 0.90")
    assert f"bad.yaml:{line}: segments.forgetful.willingnes: unknown field" in message
    assert "allowed here:" in message and "willingness" in message


def test_shares_must_sum_to_one() -> None:
    text = NORDIC.replace("  forgetful:\n    share: 0.20", "  forgetful:\n    share: 0.30", 1)
    with pytest.raises(ScenarioError, match=r"segments shares sum to 1\.1.*must sum to 1"):
        parse_scenario(text)


def test_missing_field_says_add_it() -> None:
    text = NORDIC.replace("horizon_days: 120", "", 1)
    with pytest.raises(ScenarioError, match="horizon_days: required field is missing; add it"):
        parse_scenario(text)


def test_bad_time_zone_is_named() -> None:
    text = NORDIC.replace("Europe/Stockholm", "Europe/Stokholm", 1)
    with pytest.raises(ScenarioError, match="'Europe/Stokholm' is not an IANA time zone"):
        parse_scenario(text)


def test_yaml_norway_boolean_gets_a_quoting_hint() -> None:
    text = NORDIC.replace('{country: "NO",', "{country: NO,", 1)
    with pytest.raises(ScenarioError, match="quote it"):
        parse_scenario(text)


def test_value_outside_its_range() -> None:
    text = NORDIC.replace(
        "willingness: {value: 0.90, range: [0.80, 0.95]}",
        "willingness: {value: 0.99, range: [0.80, 0.95]}",
        1,
    )
    with pytest.raises(ScenarioError, match="outside range"):
        parse_scenario(text)


def test_invalid_yaml_reports_line() -> None:
    with pytest.raises(ScenarioError, match=r"<scenario>:2: not valid YAML"):
        parse_scenario("name: x\n  bad: [indent\n")


def test_unknown_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioNotFoundError, match="nordic-telecom"):
        load_scenario("no-such-scenario")


def test_param_accepts_a_number_and_draws_within_range() -> None:
    assert Param.model_validate(0.5).value == 0.5
    p = Prob(value=0.3, range=(0.2, 0.4))
    rng = np.random.default_rng(0)
    draws = p.draw(rng, 1000, randomise=True)
    assert draws.min() >= 0.2 and draws.max() <= 0.4 and draws.std() > 0.04
    assert (p.draw(rng, 5, randomise=False) == 0.3).all()
    with pytest.raises(ValueError, match=r"\[0\.0, 1\.0\]"):
        Prob(value=1.5)


def test_randomisation_spreads_world_parameters(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    nominal = PopulationSampler(nordic_telecom, randomise=False).draw(2000, rng)
    randomised = PopulationSampler(nordic_telecom, randomise=True).draw(2000, rng)
    # SMS response is one world parameter: fixed at nominal, spread when randomised.
    sms = 2
    assert np.unique(nominal.response[:, sms]).size == 1
    low, high = nordic_telecom.channels.SMS.response.range  # type: ignore[misc]
    assert randomised.response[:, sms].min() >= low and randomised.response[:, sms].max() <= high
    assert randomised.response[:, sms].std() > 0.02


def test_world_parameters_are_drawn_once_per_reset(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    from simulator.batched import BatchedCollectionsSim
    from simulator.masks import UnshieldedMasks

    sim = BatchedCollectionsSim(nordic_telecom, 4, UnshieldedMasks(), seed=0, randomise=True)
    penalties = []
    for _ in range(3):
        sim.reset()
        penalties.append(sim.scenario.fatigue.response_penalty.value)
        assert sim.scenario.reward == nordic_telecom.reward  # the objective never changes
    low, high = nordic_telecom.fatigue.response_penalty.range  # type: ignore[misc]
    assert len(set(penalties)) == 3 and all(low <= p <= high for p in penalties)
    fixed = BatchedCollectionsSim(nordic_telecom, 4, UnshieldedMasks(), seed=0)
    fixed.reset()
    assert fixed.scenario is nordic_telecom
