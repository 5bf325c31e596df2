"""The durable_rules wrapper: quirks contained, memory released, failures fail closed."""

from __future__ import annotations

import gc

import pytest

from engine.compliance.durable_backend import DurableRuleset
from engine.compliance.errors import EvaluationError


def test_a_fact_that_matches_no_rule_is_not_an_error() -> None:
    # Without the sentinel, durable_rules raises MessageNotHandledException (#286).
    rules = DurableRuleset({"r": {"all": [{"m": {"$gt": {"x": 10}}}]}})
    assert rules.matches({"x": 1}) == []
    assert rules.matches({"x": 11}) == ["r"]


def test_every_matching_rule_is_reported_once() -> None:
    rules = DurableRuleset(
        {
            "a": {"all": [{"m": {"$or": [{"$gt": {"x": 0}}, {"$gt": {"y": 0}}]}}]},
            "b": {"all": [{"m": {"$lt": {"x": 5}}}]},
            "c": {"all": [{"m": {"y": 3}}]},
        }
    )
    # `a` has two true branches: durable_rules fires it twice; we report it once.
    assert sorted(rules.matches({"x": 1, "y": 3})) == ["a", "b", "c"]
    assert rules.matches({"x": 9, "y": 0}) == ["a"]
    # Facts are retracted after each evaluation: nothing leaks into the next one.
    assert rules.matches({"x": 9, "y": 0}) == ["a"]


def test_an_empty_ruleset_works() -> None:
    assert DurableRuleset({}).matches({"x": 1}) == []


def test_closed_ruleset_refuses_to_evaluate() -> None:
    rules = DurableRuleset({"r": {"all": [{"m": {"x": 1}}]}})
    rules.close()
    with pytest.raises(EvaluationError):
        rules.matches({"x": 1})


def test_rulesets_are_freed_when_unreachable() -> None:
    rules = DurableRuleset({"r": {"all": [{"m": {"x": 1}}]}})
    rules.matches({"x": 1})
    finalizer = rules._finalizer
    del rules
    gc.collect()
    assert not finalizer.alive


def test_reserved_rule_name() -> None:
    with pytest.raises(ValueError, match="reserved"):
        DurableRuleset({"tact_sentinel": {"all": [{"m": {"x": 1}}]}})
