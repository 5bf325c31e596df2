"""The simulator validation suite: the shipped scenario passes, and every check can fail.

Each "wrong" scenario below moves one parameter far from its cited figure; the check that
guards that figure must then fail (and the suite as a whole, through the CLI's exit status).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simulator.masks import MaskProvider, compliance_masks
from simulator.scenario import Scenario
from simulator.scenario_loader import SCENARIO_DIR, load_scenario, parse_scenario
from simulator.validation import GROUPS, CheckResult, validate

NORDIC = (SCENARIO_DIR / "nordic-telecom.yaml").read_text()
DEBTORS = 1200
SEED = 5


@pytest.fixture(scope="module")
def masks() -> MaskProvider:
    return compliance_masks()


def _with(pattern: str, replacement: str, text: str = NORDIC) -> Scenario:
    changed, count = re.subn(pattern, replacement, text)
    assert count, f"pattern {pattern!r} not found: the scenario file changed"
    return parse_scenario(changed)


def _by_name(checks: list[CheckResult]) -> dict[str, CheckResult]:
    return {c.name: c for c in checks}


def test_the_shipped_scenario_reproduces_every_stylised_fact(masks: MaskProvider) -> None:
    checks = validate(load_scenario("nordic-telecom"), masks, debtors=DEBTORS, seed=SEED)
    names = {c.name for c in checks}
    assert {
        "first_response.SMS",
        "first_response.EMAIL",
        "first_response.LETTER",
        "first_response.PHONE",
        "first_response.PUSH",
        "plan_break_6m_self_service",
        "plan_break_6m_agent",
        "plans_taken_by_able",
        "settlement_acceptance",
        "ladder.resolution_rate",
        "ladder.churn_90d",
        "ladder.nps",
        "time_to_first_payment",
    } == names
    failed = [(c.name, c.measured, c.target) for c in checks if not c.passed]
    assert not failed
    for c in checks:
        assert c.n > 50, c.name  # every experiment measured enough debtors to mean something
        assert c.source and c.grade in "ABCR"


@pytest.mark.parametrize(
    ("group", "pattern", "replacement", "check"),
    [
        (
            "response",
            r"(  SMS:\n(?:.*\n)*?    response: )\{value: 0\.72, range: \[0\.5, 0\.9\]\}",
            r"\g<1>0.1",
            "first_response.SMS",
        ),
        (
            "plans",
            r"instalment_keep: \{value: [0-9.]+, range: \[[0-9., ]+\]\}",
            "instalment_keep: 0.9",
            "plan_break_6m_self_service",
        ),
        ("plans", r"agent_break_factor: 1\.64", "agent_break_factor: 20.0", "plan_break_6m_agent"),
        (
            "plans",
            r"able_to_pay_factor: \{value: 0\.67, range: \[0\.4, 0\.9\]\}",
            "able_to_pay_factor: 0.0",
            "plans_taken_by_able",
        ),
        (
            "settlement",
            r"settlement_acceptance: \{value: [0-9.]+, range: \[[0-9., ]+\]\}",
            "settlement_acceptance: 1.0",
            "settlement_acceptance",
        ),
        ("ladder", r"    resolved: -0\.945", "    resolved: 1.5", "ladder.churn_90d"),
        ("ladder", r"  intercept: 7\.275", "  intercept: 9.5", "ladder.nps"),
        (
            "ladder",
            r"(willingness: \{value: )([0-9.]+)",
            r"\g<1>0.05",
            "ladder.resolution_rate",
        ),
    ],
)
def test_each_check_fails_when_its_parameter_is_wrong(
    masks: MaskProvider, group: str, pattern: str, replacement: str, check: str
) -> None:
    if replacement == r"\g<1>0.05":  # every segment's willingness: ranges must still hold it
        text = re.sub(
            r"willingness: \{value: ([0-9.]+), range: \[[0-9., ]+\]\}", "willingness: 0.05", NORDIC
        )
        scenario = parse_scenario(text)
    else:
        scenario = _with(pattern, replacement)
    results = _by_name(validate(scenario, masks, debtors=DEBTORS, seed=SEED, groups=(group,)))
    assert not results[check].passed, results[check]


def test_first_payment_shape_fails_when_payers_only_recover_later(masks: MaskProvider) -> None:
    # Everyone broke now, recovering in ~100 days: first payments come late, not early.
    text = re.sub(r"    ability: [0-9.]+\n", "    ability: 0.05\n", NORDIC)
    text = re.sub(r"    ability_later: [0-9.]+\n    recovery_days: [^\n]+\n",
                  "    ability_later: 3.0\n    recovery_days: 100\n", text)  # fmt: skip
    text = re.sub(r"spontaneous_pay_daily: [^\n]+\n", "spontaneous_pay_daily: 0.02\n", text)
    results = _by_name(
        validate(parse_scenario(text), masks, debtors=DEBTORS, seed=SEED, groups=("ladder",))
    )
    assert not results["time_to_first_payment"].passed


def test_unknown_group_is_named(masks: MaskProvider) -> None:
    with pytest.raises(ValueError, match="unknown validation groups"):
        validate(load_scenario("nordic-telecom"), masks, debtors=10, groups=("bogus",))
    assert GROUPS == ("response", "plans", "settlement", "ladder")


def test_cli_exit_status_and_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from simulator.cli import app

    out = tmp_path / "v.json"
    ok = CliRunner().invoke(
        app, ["--validate", "--debtors", "600", "--seed", "3", "--json", str(out)]
    )
    data = json.loads(out.read_text())
    assert {c["name"] for c in data["checks"]} >= {"plan_break_6m_self_service", "ladder.nps"}
    assert ok.exit_code == (0 if all(c["passed"] for c in data["checks"]) else 1), ok.output
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(NORDIC.replace("agent_break_factor: 1.64", "agent_break_factor: 20.0"))
    failed = CliRunner().invoke(app, ["--validate", "--scenario", str(wrong), "--debtors", "600"])
    assert failed.exit_code == 1
    assert "plan_break_6m_agent" in failed.output
