"""tact evaluate: common debtors, KPI JSON shape, reproducibility, masks, audit, report."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from engine.catalogue import CATALOGUE
from engine.compliance import ComplianceEngine
from policies.base import Policy, PolicyContractError, PolicyDecisions
from policies.comparison import (
    VIOLATIONS_KPI,
    champion,
    paired_difference,
    paired_relative_difference,
    treatment_mix,
    violation_rate,
)
from policies.evaluate import Evaluation, evaluate, resolve_policy, write_json
from policies.report import write_report
from simulator.kpis import compute_kpis
from simulator.masks import MaskProvider, compliance_masks
from simulator.rollout import simulate
from simulator.scenario import Scenario
from simulator.scenario_loader import load_scenario

N_DEBTORS = 96
SEED = 1_000_007


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario("nordic-telecom")


@pytest.fixture(scope="module")
def masks() -> MaskProvider:
    return compliance_masks()


@pytest.fixture(scope="module")
def verdicts() -> ComplianceEngine:
    return ComplianceEngine.load()


@pytest.fixture(scope="module")
def evaluation(scenario: Scenario, masks: MaskProvider, verdicts: ComplianceEngine) -> Evaluation:
    return evaluate(
        scenario,
        ["ladder", "segmented", "random", "oracle"],
        N_DEBTORS,
        masks,
        verdicts,
        seed=SEED,
        batch_size=64,  # two batches: exercises the per-batch seeding and audit sampling
        audit_contacts=200,
    )


def test_json_has_exactly_the_documented_shape(evaluation: Evaluation) -> None:
    data = json.loads(json.dumps(evaluation.to_json()))
    assert set(data) == {"scenario", "debtors", "seed", "randomise", "champion", "policies"}
    assert (data["scenario"], data["debtors"], data["seed"]) == ("nordic-telecom", N_DEBTORS, SEED)
    assert data["champion"] == "segmented"  # the only champion candidate evaluated
    assert list(data["policies"]) == ["ladder", "segmented", "random", "oracle"]
    required = {
        "resolution_rate",
        "plans_running",
        "running_plan_value_per_case",
        "recovery_rate",
        "recovery_30d",
        "recovery_60d",
        "net_value_per_case",
        "net_collections_per_case",
        "plan_break_rate",
        "cost_per_case",
        "complaints_per_1000",
        "churn_90d",
        "nps",
        "contacts_per_case",
        VIOLATIONS_KPI,
    }
    segments = set(evaluation.scenario.segment_names)
    for name, block in data["policies"].items():
        assert set(block) == {
            "kpis",
            "days_to_first_payment",
            "treatment_mix",
            "by_segment",
            "paired",
            "audit",
        }
        assert required <= set(block["kpis"]), name
        for kpi, value in block["kpis"].items():
            assert set(value) == {"mean", "ci95"}, (name, kpi)
            low, high = value["ci95"]
            assert isinstance(value["mean"], float)
            if kpi != "plan_break_rate" or value["mean"] == value["mean"]:  # NaN: no plans
                assert low <= value["mean"] <= high, (name, kpi, value)
        assert set(block["treatment_mix"]) == {
            "contacts",
            "top_treatment",
            "top_share",
            "entropy_bits",
        }
        assert set(block["by_segment"]) <= segments
        for segment in block["by_segment"].values():
            assert {"debtors", "net_value_per_case", "resolution_rate", "treatment_mix"} <= set(
                segment
            )
    # Each policy is compared with every baseline but itself; the oracle is no baseline.
    assert set(data["policies"]["ladder"]["paired"]) == {"segmented", "random"}
    assert set(data["policies"]["oracle"]["paired"]) == {"ladder", "segmented", "random"}
    paired = data["policies"]["oracle"]["paired"]["segmented"]
    assert {"net_value_per_case", "net_value_per_case_rel_pct", "by_segment"} <= set(paired)


def test_treatment_mix_counts_what_was_sent(evaluation: Evaluation) -> None:
    for name, run in evaluation.runs.items():
        mix = treatment_mix(run.treatment_counts.sum(axis=0))
        executed = int(run.outcomes.contacts.sum())
        assert mix.contacts == executed, name  # every executed contact, once
        assert 0.0 <= mix.entropy_bits <= np.log2(len(CATALOGUE))
    one = np.zeros(len(CATALOGUE), np.int64)
    one[5] = 40
    assert (treatment_mix(one).top_share, treatment_mix(one).entropy_bits) == (1.0, 0.0)
    two = np.zeros(len(CATALOGUE), np.int64)
    two[[5, 9]] = 10
    assert treatment_mix(two).entropy_bits == pytest.approx(1.0)


def test_champion_is_the_better_candidate(evaluation: Evaluation) -> None:
    assert champion(evaluation) == "segmented"
    fake = Evaluation(evaluation.scenario, N_DEBTORS, SEED, False)
    fake.runs["best-simple"] = evaluation.runs["random"]
    fake.runs["segmented"] = evaluation.runs["segmented"]
    values = {n: compute_kpis(fake.runs[n].outcomes)["net_value_per_case"].mean for n in fake.runs}
    assert champion(fake) == max(values, key=values.__getitem__)
    assert champion(Evaluation(evaluation.scenario, 1, 1, False)) is None


def test_relative_difference_keeps_its_sign_for_a_negative_reference(
    evaluation: Evaluation,
) -> None:
    oracle, ladder = evaluation.runs["oracle"].outcomes, evaluation.runs["ladder"].outcomes
    ref = compute_kpis(ladder)["net_value_per_case"].mean
    run = compute_kpis(oracle)["net_value_per_case"].mean
    mean, low, high = paired_relative_difference(oracle, ladder, "net_value_per_case")
    assert mean == pytest.approx(100 * (run - ref) / abs(ref))
    assert low < mean < high
    assert (mean > 0) == (run > ref)


def test_every_policy_meets_the_same_debtors(evaluation: Evaluation) -> None:
    runs = list(evaluation.runs.values())
    for run in runs[1:]:
        np.testing.assert_array_equal(run.outcomes.serial, runs[0].outcomes.serial)
        np.testing.assert_array_equal(run.outcomes.original_minor, runs[0].outcomes.original_minor)
        np.testing.assert_array_equal(run.outcomes.segment, runs[0].outcomes.segment)


class _SilentOnFirstRow:
    """segmented, except that the first debtor of every batch is never contacted."""

    name = "segmented-but-one"
    version = "0"

    def __init__(self) -> None:
        self.inner = resolve_policy("segmented")

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        decisions = self.inner.act(observations, masks, rng)
        decisions.indices[0] = CATALOGUE.WAIT_INDEX
        return decisions


def test_other_debtors_keep_their_luck_when_one_is_treated_differently(
    evaluation: Evaluation, scenario: Scenario, masks: MaskProvider, verdicts: ComplianceEngine
) -> None:
    # Common random numbers per debtor and day: changing what happens to one debtor
    # must not change anything for the others of its batch.
    other = (
        evaluate(
            scenario,
            ["x"],
            N_DEBTORS,
            masks,
            verdicts,
            seed=SEED,
            batch_size=64,
            audit_contacts=0,
            load=lambda _: _SilentOnFirstRow(),
        )
        .runs["x"]
        .outcomes
    )
    base = evaluation.runs["segmented"].outcomes
    same = ~np.isin(base.serial, [0, 64])
    for column in ("collected_minor", "outcome", "days", "complaints", "churned", "nps_score"):
        np.testing.assert_array_equal(getattr(other, column)[same], getattr(base, column)[same])
    assert not np.array_equal(other.contacts[~same], base.contacts[~same])


def test_outcomes_equal_simulate_for_the_same_seed(
    evaluation: Evaluation, scenario: Scenario, masks: MaskProvider
) -> None:
    reference = simulate(
        scenario,
        resolve_policy("segmented"),
        N_DEBTORS,
        masks,
        seed=SEED,
        batch_size=64,
        log_steps=False,
    )
    ours = evaluation.runs["segmented"].outcomes
    np.testing.assert_array_equal(ours.collected_minor, reference.outcomes.collected_minor)
    np.testing.assert_array_equal(ours.outcome, reference.outcomes.outcome)
    np.testing.assert_allclose(ours.reward, reference.outcomes.reward)


def test_same_seed_gives_identical_json(
    evaluation: Evaluation,
    scenario: Scenario,
    masks: MaskProvider,
    verdicts: ComplianceEngine,
    tmp_path: Path,
) -> None:
    again = evaluate(
        scenario,
        ["ladder", "segmented", "random", "oracle"],
        N_DEBTORS,
        masks,
        verdicts,
        seed=SEED,
        batch_size=64,
        audit_contacts=200,
    )
    first = write_json(evaluation, tmp_path / "a.json").read_bytes()
    second = write_json(again, tmp_path / "b.json").read_bytes()
    assert first == second


def test_paired_difference_is_the_difference_of_means(evaluation: Evaluation) -> None:
    ladder, segmented = evaluation.runs["ladder"].outcomes, evaluation.runs["segmented"].outcomes
    mean, low, high = paired_difference(ladder, segmented, "net_value_per_case")
    k_ladder = compute_kpis(ladder)["net_value_per_case"].mean
    k_segmented = compute_kpis(segmented)["net_value_per_case"].mean
    assert mean == pytest.approx(k_ladder - k_segmented)
    assert low < mean < high


def test_audit_checks_a_sample_and_finds_no_violation(evaluation: Evaluation) -> None:
    for name, run in evaluation.runs.items():
        a = run.audit
        assert a.violations == 0, name
        assert a.blocked_requests == 0, name  # every policy respected its masks
        assert a.reconstruction_errors == 0, name
        if a.contacts_executed:
            assert 0 < a.contacts_audited <= min(a.contacts_executed, 200 + 2), name


def test_violation_rate_interval_is_exact() -> None:
    from scipy.stats import binomtest

    for violations in (0, 5):
        rate, low, high = violation_rate(violations, 1000)
        exact = binomtest(violations, 1000).proportion_ci(method="exact")
        assert rate == violations
        assert (low, high) == pytest.approx((1000 * exact.low, 1000 * exact.high))


class _RecordingPolicy:
    """Wraps a policy and records that every choice it made was allowed by its mask."""

    def __init__(self, inner: Policy) -> None:
        self.inner, self.name, self.version = inner, inner.name, inner.version
        self.steps = 0
        self.contacts = 0

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        decisions = self.inner.act(observations, masks, rng)
        assert masks[np.arange(masks.shape[0]), decisions.indices].all()
        self.steps += 1
        self.contacts += int((decisions.indices != CATALOGUE.WAIT_INDEX).sum())
        return decisions


class _Disobedient:
    """Asks for a blocked treatment whenever one exists."""

    name = "disobedient"
    version = "0"

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        blocked = np.argmin(masks, axis=1)  # first False, or 0 (WAIT) when all allowed
        return PolicyDecisions(indices=blocked.astype(np.int64), propensities=np.ones(len(masks)))


def test_the_mask_is_checked_at_every_step(
    scenario: Scenario, masks: MaskProvider, verdicts: ComplianceEngine
) -> None:
    recorder = _RecordingPolicy(resolve_policy("random"))
    evaluate(
        scenario,
        ["random"],
        32,
        masks,
        verdicts,
        seed=SEED,
        audit_contacts=0,
        load=lambda _: recorder,
    )
    assert recorder.steps >= 10 and recorder.contacts > 0
    with pytest.raises(PolicyContractError, match="blocked treatment"):
        evaluate(
            scenario,
            ["x"],
            8,
            masks,
            verdicts,
            seed=SEED,
            audit_contacts=0,
            load=lambda _: _Disobedient(),
        )


def test_evaluate_rejects_bad_policy_lists(
    scenario: Scenario, masks: MaskProvider, verdicts: ComplianceEngine
) -> None:
    with pytest.raises(ValueError, match="twice"):
        evaluate(scenario, ["ladder", "ladder"], 8, masks, verdicts)
    with pytest.raises(ValueError, match="no policies"):
        evaluate(scenario, [" "], 8, masks, verdicts)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")


def test_report_is_one_html_file_with_embedded_images(
    evaluation: Evaluation, tmp_path: Path
) -> None:
    path = write_report(evaluation, tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    parser = _Tags()
    parser.feed(text)
    assert {"html", "head", "body", "table"} <= set(parser.tags)
    # KPIs, segment gains vs the champion, recovery, treatment heat map, mix, send hours, oracle
    assert len(parser.images) >= 7
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text  # readable offline
    assert path.stat().st_size < 2_000_000


def test_the_cli_writes_json_and_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policies.cli import app

    out, report = tmp_path / "e.json", tmp_path / "e.html"
    result = CliRunner().invoke(
        app,
        [
            "evaluate", "--policies", "ladder,segmented", "--debtors", "16", "--seed", str(SEED),
            "--audit-contacts", "20", "--json", str(out), "--report", str(report),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert list(data["policies"]) == ["ladder", "segmented"] and data["debtors"] == 16
    assert "champion (better of segmented, best-simple): segmented" in result.output
    assert report.read_text().startswith("<!DOCTYPE html>")
    bad = CliRunner().invoke(app, ["evaluate", "--policies", "bogus", "--debtors", "4"])
    assert bad.exit_code != 0 and "oracle" in bad.output


def test_relative_difference_is_undefined_when_the_reference_may_be_zero(
    evaluation: Evaluation,
) -> None:
    from dataclasses import replace

    run = evaluation.runs["ladder"].outcomes
    values = compute_kpis(run)["net_value_per_case"]
    # Shift the reference's churn cost so that its net value straddles 0.
    centred = replace(run, churn_price=run.churn_price + values.mean / run.churn_expected.mean())
    centred_kpi = compute_kpis(centred)["net_value_per_case"]
    assert centred_kpi.ci_low < 0 < centred_kpi.ci_high
    mean, low, high = paired_relative_difference(run, centred, "net_value_per_case")
    assert mean != mean and low != low and high != high  # NaN: no size to be relative to
    block = json.loads(json.dumps(evaluation.to_json()))
    assert all(
        v is None or isinstance(v, float)
        for v in block["policies"]["ladder"]["kpis"]["plan_break_rate"]["ci95"]
    )
