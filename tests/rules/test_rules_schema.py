"""rules/schema.json is generated from the loader's models and is not stale; every rule and
test file declares it for editors and validates against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.compliance import DEFAULT_RULES_DIR
from engine.compliance.schema import SCHEMA_FILES, schema_text, stale_schemas
from engine.compliance.yaml_source import RulesYamlLoader

RULE_FILES = sorted(DEFAULT_RULES_DIR.glob("*.yaml"))
TEST_FILES = sorted((DEFAULT_RULES_DIR / "tests").glob("*.yaml"))


def test_committed_schemas_are_up_to_date() -> None:
    stale = stale_schemas(DEFAULT_RULES_DIR)
    assert not stale, f"regenerate with `tact rules schema`: {stale}"
    for relative, model in SCHEMA_FILES.items():
        assert json.loads((DEFAULT_RULES_DIR / relative).read_text()) == json.loads(
            schema_text(model)
        )


@pytest.mark.parametrize(
    ("path", "schema_name"),
    [(p, "schema.json") for p in RULE_FILES] + [(p, "tests/schema.json") for p in TEST_FILES],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_file_declares_and_satisfies_its_schema(path: Path, schema_name: str) -> None:
    first_line = path.read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=./schema.json", (
        f"{path.name} must start with the schema comment for editors"
    )
    schema = json.loads((DEFAULT_RULES_DIR / schema_name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.load(path.read_text(), Loader=RulesYamlLoader)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert not errors, [e.message for e in errors]


def test_schema_rejects_what_the_loader_rejects() -> None:
    schema = json.loads((DEFAULT_RULES_DIR / "schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    two_effects = {
        "jurisdiction": "SE",
        "title": "x",
        "rules": [
            {"id": "a", "title": "t", "citation": "c", "hold": {}, "block": {"tones": ["FIRM"]}}
        ],
    }
    typo = {"jurisdiction": "SE", "title": "x", "rules": [], "extend": "defaults"}
    bad_window = {
        "jurisdiction": "SE",
        "title": "x",
        "rules": [
            {
                "id": "w",
                "title": "t",
                "citation": "c",
                "send_window": {
                    "channels": ["SMS"],
                    "weekday": "8-21",
                    "saturday": None,
                    "sunday": None,
                    "holiday": None,
                },
            }
        ],
    }
    for document in (two_effects, typo, bad_window):
        assert list(validator.iter_errors(document))
