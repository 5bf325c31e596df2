"""``tact search-simple``: successive halving on training seeds, ranked by net value per case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.compliance import ComplianceEngine
from policies.best_simple import BestSimpleArtifact, load_best_simple, read_artifact
from policies.evaluate import run_policy
from policies.simple import SIMPLE_GRID, SimplePolicy, SimpleStrategy
from policies.simple_search import (
    DEFAULT_STAGE_DEBTORS,
    MEASURE,
    SearchPlan,
    scenario_hash,
    search_simple,
    stage_seeds,
    write_artifact,
)
from policies.train_config import EVAL_SEED_OFFSET
from simulator.kpis import compute_kpis
from simulator.masks import compliance_masks
from simulator.scenario_loader import load_scenario

MEMBERS = [
    SimpleStrategy.parse("PLAN_6/EMPATHETIC/SMS>EMAIL>LETTER/MORNING/every-3d"),
    SimpleStrategy.parse("REMINDER/FIRM/SMS/EVENING/every-1d"),
    SimpleStrategy.parse("DEMAND/NEUTRAL/LETTER>EMAIL/MORNING/every-14d"),
]
TINY = SearchPlan(stage_debtors=(100, 200), finalists=2)


@pytest.fixture(scope="module")
def tiny_search() -> BestSimpleArtifact:
    engine = ComplianceEngine.load()
    return search_simple(
        load_scenario("nordic-telecom"), engine, engine, seed=7, members=MEMBERS, plan=TINY
    )


def _measure(member: str, debtors: int, seed: int) -> float:
    """The member's net value per case on a stage's debtors, computed here independently."""
    engine = compliance_masks()
    run = run_policy(
        load_scenario("nordic-telecom"),
        SimplePolicy(SimpleStrategy.parse(member)),
        debtors,
        engine,
        seed=seed,
        verdicts=engine,
        audit_contacts=0,
    )
    return compute_kpis(run.outcomes)[MEASURE].mean


def test_the_search_returns_the_best_member_by_net_value(tiny_search: BestSimpleArtifact) -> None:
    first, last = tiny_search.stages
    assert [len(first.rows), len(last.rows)] == [3, 2]
    assert {r.member for r in first.rows} == {m.spec for m in MEMBERS}
    for stage in (first, last):
        means = [r.mean for r in stage.rows]
        assert means == sorted(means, reverse=True)
        for row in stage.rows:  # every figure is what simulator.kpis says for that member
            assert row.debtors == stage.debtors
            assert row.mean == pytest.approx(
                _measure(row.member, stage.debtors, stage.seed), abs=1e-4
            )
            assert row.ci95[0] < row.mean < row.ci95[1]
    assert first.promoted == [r.member for r in first.rows[:2]]
    assert set(first.promoted) == {r.member for r in last.rows}  # re-ranked on new debtors
    assert last.promoted == [last.rows[0].member] == [tiny_search.winner]


def test_stages_use_new_training_debtors(tiny_search: BestSimpleArtifact) -> None:
    seeds = [stage.seed for stage in tiny_search.stages]
    assert seeds == stage_seeds(7, 2) and len(set(seeds)) == 2
    assert all(0 <= s < EVAL_SEED_OFFSET for s in seeds)
    with pytest.raises(ValueError, match="not a training seed"):
        stage_seeds(EVAL_SEED_OFFSET, 3)


def test_the_artifact_is_well_formed_and_loads_as_best_simple(
    tiny_search: BestSimpleArtifact, tmp_path: Path
) -> None:
    path = write_artifact(tiny_search, tmp_path / "nordic-telecom.json")
    data = json.loads(path.read_text())
    assert data["winner"] == tiny_search.winner and data["measure"] == MEASURE
    assert data["scenario"] == "nordic-telecom"
    assert data["scenario_hash"] == scenario_hash(load_scenario("nordic-telecom"))
    assert data["seed"] == 7 and data["grid"] == "custom" and data["members"] == 3
    assert data["code_revision"] and data["wall_time_s"] > 0
    assert [len(s["rows"]) for s in data["stages"]] == [3, 2]
    assert set(data["stages"][0]["rows"][0]) == {"member", "debtors", "mean", "ci95"}
    assert read_artifact("nordic-telecom", tmp_path) == tiny_search
    policy = load_best_simple("best-simple", tmp_path)
    assert policy.name == "best-simple"
    assert policy.strategy == SimpleStrategy.parse(tiny_search.winner)


def test_the_default_plan_is_successive_halving_to_four_finalists() -> None:
    plan = SearchPlan()
    assert plan.stage_debtors == DEFAULT_STAGE_DEBTORS == (500, 2_000, 16_000)
    n = len(SIMPLE_GRID)
    after_first = plan.survivors(0, n)
    assert (n, after_first, plan.survivors(1, after_first), plan.survivors(2, 4)) == (
        420,
        105,
        4,
        1,
    )
    with pytest.raises(ValueError, match="keep fraction"):
        SearchPlan(keep_fraction=0)
    with pytest.raises(ValueError, match="stage debtors"):
        SearchPlan(stage_debtors=(100, 0))


def test_the_cli_writes_the_artifact(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policies.cli import app

    out = tmp_path / "best.json"
    members = [arg for m in MEMBERS[:2] for arg in ("--member", m.spec)]
    result = CliRunner().invoke(
        app,
        ["search-simple", "--seed", "3", "--debtors-per-stage", "60", "--out", str(out), *members],
    )
    assert result.exit_code == 0, result.output
    artifact = BestSimpleArtifact.model_validate_json(out.read_text())
    assert artifact.winner in {m.spec for m in MEMBERS[:2]}
    assert artifact.command.startswith("tact search-simple --scenario nordic-telecom --seed 3")
    bad = CliRunner().invoke(app, ["search-simple", "--member", "PLAN_6/FIRM/SMS/MORNING/every-1d"])
    assert bad.exit_code != 0 and "comes in tone EMPATHETIC" in bad.output
    eval_seed = CliRunner().invoke(app, ["search-simple", "--seed", str(EVAL_SEED_OFFSET)])
    assert eval_seed.exit_code != 0 and "not a training seed" in eval_seed.output
