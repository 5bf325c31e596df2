"""The JSON Schemas of the rule files and test files, generated from the pydantic models.

``rules/schema.json`` and ``rules/tests/schema.json`` are committed so that editors
(yaml-language-server) autocomplete and flag mistakes; a test fails when they are stale.
Regenerate with ``tact rules schema``.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.compliance.model import RuleFile, RuleTestFile, json_schema

SCHEMA_FILES: dict[str, type] = {
    "schema.json": RuleFile,
    "tests/schema.json": RuleTestFile,
}
"""Schema file (relative to the rules directory) → the model it describes."""


def schema_text(model: type) -> str:
    """The exact committed text of ``model``'s schema (stable key order, trailing newline)."""
    return json.dumps(json_schema(model), indent=2, ensure_ascii=False) + "\n"


def write_schemas(rules_dir: Path) -> list[Path]:
    """(Re)write every schema file under ``rules_dir``; returns the paths written."""
    written = []
    for relative, model in SCHEMA_FILES.items():
        path = rules_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schema_text(model), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(rules_dir: Path) -> list[Path]:
    """Schema files that are missing or differ from what the models generate."""
    stale = []
    for relative, model in SCHEMA_FILES.items():
        path = rules_dir / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != schema_text(model):
            stale.append(path)
    return stale
