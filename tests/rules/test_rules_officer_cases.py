"""The compliance officers' test cases (rules/tests/*.yaml) pass, and every rule of every
shipped file is exercised by at least one of them."""

from __future__ import annotations

from collections import defaultdict

import pytest

from engine.compliance import DEFAULT_RULES_DIR, ComplianceEngine
from engine.compliance.compiler import rule_files
from engine.compliance.rule_tests import load_rule_tests, run_case, run_rule_tests
from engine.compliance.yaml_source import load_located

LOADED = load_rule_tests(DEFAULT_RULES_DIR / "tests")
CASES = [
    pytest.param(item.tests.country, case, id=f"{item.path.stem}:{case.name}")
    for item in LOADED
    for case in item.tests.cases
]


@pytest.fixture(scope="module")
def engine() -> ComplianceEngine:
    return ComplianceEngine.load()


@pytest.mark.parametrize(("country", "case"), CASES)
def test_officer_case(engine: ComplianceEngine, country: str, case) -> None:  # type: ignore[no-untyped-def]
    passed, problems, _ = run_case(engine, country, case)
    assert passed, "; ".join(problems)


def test_every_rule_of_every_file_is_tested(engine: ComplianceEngine) -> None:
    """A rule counts as tested when a case of a country whose *effective* rule with that id
    comes from that file expects it (as a blocking or shaping rule)."""
    expected: dict[str, set[str]] = defaultdict(set)  # country → rule ids tested
    for item in LOADED:
        for case in item.tests.cases:
            expected[item.tests.country] |= set(case.rules) | set(case.shaping)
    untested = []
    for path in rule_files(DEFAULT_RULES_DIR):
        data = load_located(path).data
        for rule in data["rules"]:
            covered = any(
                rule["id"] in expected[code]
                and any(r.id == rule["id"] and r.file == path for r in cr.rules)
                for code, cr in engine.compiled.countries.items()
            )
            if not covered:
                untested.append(f"{path.name}: {rule['id']}")
    assert not untested, f"rules without a test case: {untested}"


def test_all_shipped_countries_have_tests(engine: ComplianceEngine) -> None:
    assert {item.tests.country for item in LOADED} == set(engine.countries)


def test_runner_reports_failures_readably(engine: ComplianceEngine) -> None:
    outcomes = run_rule_tests(engine, loaded=LOADED)
    assert outcomes and all(o.passed for o in outcomes)
    assert all(o.line > 0 and o.file.suffix == ".yaml" for o in outcomes)
