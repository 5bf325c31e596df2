"""``best-simple``: the best member of the simple-strategy family, as found by the search.

``tact search-simple --scenario S --seed 0`` (:mod:`policies.simple_search`) runs the
family on training debtors and writes ``policies/models/best-simple/<S>.json``: the
winning spec with everything needed to judge and reproduce it (scenario and its content
hash, seeds, the table of every stage, code revision, wall time, the command). This
module reads that artifact for the registry: ``best-simple`` is the winner for the default
scenario (``nordic-telecom``), ``best-simple:<scenario>`` for another. It imports neither
the simulator nor torch: the service loads it on start-up.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import PolicyLoadError
from policies.simple import SimplePolicy, SimpleStrategy

BEST_SIMPLE = "best-simple"
DEFAULT_SCENARIO = "nordic-telecom"
"""The scenario ``best-simple`` without a suffix stands for (the calibrated one)."""
BEST_SIMPLE_DIR = Path(__file__).parent / "models" / BEST_SIMPLE
ARTIFACT_VERSION = 1
_SCENARIO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class StageRow(BaseModel):
    """One member's result in one stage of the search."""

    model_config = ConfigDict(frozen=True)

    member: str
    """The member's spec (``SimpleStrategy.spec``)."""
    debtors: int
    mean: float
    """Mean of the ranking measure (net value per case) over the stage's debtors."""
    ci95: tuple[float, float]


class SearchStage(BaseModel):
    """One round of successive halving: every member left, on the same debtors."""

    model_config = ConfigDict(frozen=True)

    debtors: int
    seed: int
    """Simulator seed of the stage's debtors (a training seed)."""
    rows: list[StageRow]
    """Every member of the stage, best first."""
    promoted: list[str]
    """The members that went on to the next stage (the winner alone after the last)."""
    seconds: float


class BestSimpleArtifact(BaseModel):
    """What ``tact search-simple`` writes and ``best-simple`` loads."""

    model_config = ConfigDict(frozen=True)

    artifact_version: int = ARTIFACT_VERSION
    winner: str
    """Spec of the best member on the last stage: serve it as ``simple:<winner>``."""
    scenario: str
    scenario_hash: str
    """Content hash of the scenario searched on (``simple_search.scenario_hash``)."""
    measure: str
    """KPI the members are ranked by (``simulator.kpis``), higher is better."""
    seed: int
    """The search's seed; the stage seeds are drawn from it (all below 1,000,000)."""
    grid: str
    """``SIMPLE_GRID`` or ``custom``: which members were searched."""
    members: int
    stages: list[SearchStage]
    code_revision: str
    wall_time_s: float
    command: str
    """The command that reproduces this artifact."""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path


class BestSimplePolicy(SimplePolicy):
    """The winner of a search, served under the name ``best-simple[:<scenario>]``."""

    def __init__(self, artifact: BestSimpleArtifact, *, name: str) -> None:
        super().__init__(SimpleStrategy.parse(artifact.winner), name=name)
        self.artifact = artifact


def artifact_path(scenario: str, root: Path | None = None) -> Path:
    """Where the search writes (and ``best-simple`` reads) the artifact of ``scenario``."""
    if not _SCENARIO_NAME.fullmatch(scenario):
        raise PolicyLoadError(
            f"best-simple:{scenario!r}: name a shipped scenario (letters, digits, '-', '_', "
            "'.'), e.g. best-simple:nordic-telecom"
        )
    return (root or BEST_SIMPLE_DIR) / f"{scenario}.json"


def read_artifact(scenario: str, root: Path | None = None) -> BestSimpleArtifact:
    """The search result for ``scenario``; PolicyLoadError saying how to make it if absent."""
    path = artifact_path(scenario, root)
    if not path.is_file():
        raise PolicyLoadError(
            f"no best-simple artifact for scenario {scenario!r} ({path} is missing); make it "
            f"with `tact search-simple --scenario {scenario} --seed 0` (about 10 minutes)"
        )
    try:
        return BestSimpleArtifact.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise PolicyLoadError(
            f"best-simple artifact {path} is unreadable or malformed ({exc}); re-run "
            f"`tact search-simple --scenario {scenario} --seed 0`"
        ) from exc


def load_best_simple(spec: str, root: Path | None = None) -> BestSimplePolicy:
    """``best-simple`` or ``best-simple:<scenario>`` as a policy."""
    scenario = spec.removeprefix(BEST_SIMPLE).removeprefix(":").strip() or DEFAULT_SCENARIO
    artifact = read_artifact(scenario, root)
    if artifact.scenario != scenario:
        raise PolicyLoadError(
            f"{artifact_path(scenario, root)} holds the search for scenario "
            f"{artifact.scenario!r}, not {scenario!r}; re-run `tact search-simple --scenario "
            f"{scenario} --seed 0`"
        )
    name = BEST_SIMPLE if scenario == DEFAULT_SCENARIO else f"{BEST_SIMPLE}:{scenario}"
    return BestSimplePolicy(artifact, name=name)


__all__ = [
    "BEST_SIMPLE",
    "BEST_SIMPLE_DIR",
    "BestSimpleArtifact",
    "BestSimplePolicy",
    "SearchStage",
    "StageRow",
    "artifact_path",
    "load_best_simple",
    "read_artifact",
]
