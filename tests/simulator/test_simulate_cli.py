"""``tact simulate`` prints every KPI and the audit result; bad names fail with the choices."""

from __future__ import annotations

from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()


def test_simulate_prints_kpis_and_violations() -> None:
    result = runner.invoke(
        app,
        ["--policy", "random", "--debtors", "40", "--seed", "3", "--audit", "30"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    for label in (
        "resolution rate",
        "recovery rate",
        "net value per case",
        "cost per case",
        "complaints per 1,000",
        "churn within 90 days",
        "NPS",
        "contacts per case",
        "compliance violations",
    ):
        assert label in result.output
    assert "0 in 30 re-checked contacts" in result.output


def test_consumer_credit_has_no_churn_line() -> None:
    result = runner.invoke(
        app,
        ["--scenario", "consumer-credit", "--debtors", "20", "--audit", "none"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "churn" not in result.output and "not audited" in result.output


def test_unknown_policy_and_scenario_name_the_choices() -> None:
    bad_policy = runner.invoke(app, ["--policy", "nope", "--debtors", "5"], env={"COLUMNS": "200"})
    assert bad_policy.exit_code == 2 and "ladder" in bad_policy.output
    bad_scenario = runner.invoke(
        app, ["--scenario", "nope", "--debtors", "5"], env={"COLUMNS": "200"}
    )
    assert bad_scenario.exit_code == 2 and "nordic-telecom" in bad_scenario.output


def test_the_policy_help_names_every_policy_the_registry_knows() -> None:
    from simulator.policy_registry import policy_names

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400"})
    text = " ".join(result.output.replace("│", " ").split())
    missing = [name for name in policy_names() if name not in text]
    assert not missing, f"tact simulate --help leaves out {missing}"
