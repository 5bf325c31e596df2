"""Fixtures of the compliance tests: the real rule files, compiled once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.compliance import DEFAULT_RULES_DIR, ComplianceEngine


@pytest.fixture(scope="session")
def engine() -> ComplianceEngine:
    return ComplianceEngine.load()


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A private, editable copy of the shipped rules directory (with its tests)."""
    target = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, target)
    return target
