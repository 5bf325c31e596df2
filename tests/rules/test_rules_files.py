"""The shipped rule files: every jurisdiction present, cited, inheriting the defaults."""

from __future__ import annotations

import pytest

from engine.compliance import DEFAULT_RULES_DIR, ComplianceEngine
from engine.compliance.model import RuleFile
from engine.compliance.yaml_source import load_located, validate_located

REQUIRED = {"US", "GB", "SE", "NO", "DK", "FI", "DE"}


def _parsed(stem: str) -> RuleFile:
    model, issues = validate_located(load_located(DEFAULT_RULES_DIR / f"{stem}.yaml"), RuleFile)
    assert not issues and model is not None
    return model


def test_required_jurisdictions_compile() -> None:
    engine = ComplianceEngine.load()
    assert engine.countries >= REQUIRED
    assert len(engine.version) == 16


@pytest.mark.parametrize("stem", sorted(REQUIRED))
def test_country_file_extends_defaults_and_cites_every_rule(stem: str) -> None:
    model = _parsed(stem)
    assert model.jurisdiction == stem and model.extends == "defaults"
    for rule in model.rules:
        assert rule.citation.strip() and rule.title.strip()


def test_norway_is_not_false() -> None:
    # YAML 1.1 reads a bare NO as boolean false; the loader must not.
    assert _parsed("NO").jurisdiction == "NO"


def test_unconfirmed_facts_are_marked() -> None:
    """Facts the regulation notes list as unconfirmed keep the UNCONFIRMED mark."""
    texts = {stem: (DEFAULT_RULES_DIR / f"{stem}.yaml").read_text() for stem in REQUIRED}
    assert "UNCONFIRMED" in texts["NO"]  # circular number
    assert "UNCONFIRMED" in texts["SE"]  # contact hours
    assert "UNCONFIRMED" in texts["DE"]  # contact hours
    assert "UNCONFIRMED" in texts["FI"]  # waiting-period figures
    assert "UNCONFIRMED" in texts["GB"]  # CONC 7.2.1R number


def test_subdivision_files_extend_their_country_and_cite_every_rule() -> None:
    subdivisions = [p.stem for p in DEFAULT_RULES_DIR.glob("??-*.yaml")]
    assert "US-MA" in subdivisions
    for stem in subdivisions:
        model = _parsed(stem)
        assert model.jurisdiction == stem and model.extends == stem[:2]
        assert model.rules and all(r.citation.strip() and r.title.strip() for r in model.rules)


def test_the_guide_lists_every_built_in_reason() -> None:
    """docs/rules.md names every rule id tact gives that no rule file defines."""
    from pathlib import Path

    from engine.compliance import verdict

    built_in = {hit.rule_id for hit in vars(verdict).values() if isinstance(hit, verdict.RuleHit)}
    built_in.add(verdict.SUBDIVISION_UNKNOWN_ID)
    assert {"tact.slot-passed", "tact.send-slots", "tact.fail-closed"} <= built_in
    guide = (Path(__file__).parents[2] / "docs" / "rules.md").read_text()
    assert not [rule_id for rule_id in sorted(built_in) if f"`{rule_id}`" not in guide]
