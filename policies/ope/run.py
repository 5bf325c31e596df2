"""Estimate candidates from logged decisions: ``tact ope``'s engine, and its report."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from policies.base import Policy
from policies.ope.case_importance import (
    LoggedCases,
    PolicyLoader,
    WeightCheck,
    case_weights,
    estimate_cases,
    logged_cases,
)
from policies.ope.estimators import Estimate, estimate_all
from policies.ope.logged import LoggedDecisions

MIN_ESS = 30.0
"""Below this effective sample size an estimate is flagged as resting on thin support."""
MIN_MATCH_SHARE = 0.05
"""…and when the candidate agrees with fewer than this share of the logged treatments."""


@dataclass(slots=True)
class OpeResult:
    candidate: str
    decisions: int
    cases: int
    logged_value_per_decision: float
    logged_value_per_case: float
    match_share: float
    """Share of decisions where the candidate would have served the logged treatment."""
    estimates: list[Estimate]
    warnings: list[str] = field(default_factory=list)
    case_weights: WeightCheck | None = None
    """Under case exploration: the mean case weight (1 where the mixture supports the
    candidate and the logged case propensities are right)."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["estimates"] = [asdict(e) for e in self.estimates]
        return out


def candidate_choices(policy: Policy, logged: LoggedDecisions, chunk: int = 4096) -> np.ndarray:
    """The candidate's deterministic choice for every logged context (as served)."""
    out = np.zeros(len(logged), dtype=np.int64)
    for start in range(0, len(logged), chunk):
        stop = start + chunk
        decided = policy.act(
            logged.observation[start:stop], logged.allowed[start:stop].copy(), None
        )
        out[start:stop] = decided.indices
    return out


def case_explored(logged: LoggedDecisions, load: PolicyLoader | None = None) -> LoggedCases | None:
    """The case-explored cases of ``logged`` weighed by their mixtures (policies loaded by
    ``load``, the service's loader by default), or None when no case was case-explored."""
    if not (logged.case_mixture != "").any():
        return None
    if load is None:
        from policies.registry import load_policy

        load = load_policy
    return logged_cases(logged, load=load)


def evaluate_candidate(
    name: str,
    policy: Policy,
    logged: LoggedDecisions,
    *,
    n_boot: int = 200,
    seed: int = 0,
    cases: LoggedCases | None = None,
    per_decision: bool = True,
) -> OpeResult:
    """Every estimate of ``policy`` (deterministic, as served) from ``logged``; the
    case-level MIS and SNMIS too when ``cases`` (:func:`case_explored` of the same log)
    is given. ``per_decision=False`` leaves out IPS, SNIPS, DR and PDWIS (on a million
    logged decisions their bootstraps take most of the time)."""
    if len(logged) == 0:
        raise ValueError(
            "no logged decisions to evaluate: OPE needs decisions made under an experiment "
            "file (TACT_EXPERIMENT_FILE), whose tags keep the observation and mask"
        )
    bad = (logged.propensity <= 0) | (logged.propensity > 1) | ~np.isfinite(logged.propensity)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} logged propensities outside (0, 1]: cannot weight")
    action = candidate_choices(policy, logged)
    probability = (action == logged.treatment_index).astype(np.float64)
    estimates = (
        estimate_all(logged, probability, action, n_boot=n_boot, seed=seed) if per_decision else []
    )
    check = None
    if cases is not None:
        weights = case_weights(cases, logged, action)
        case_estimates, check = estimate_cases(
            weights, cases.reward, n_boot=n_boot, rng=np.random.default_rng(seed)
        )
        estimates.extend(case_estimates)
    starts = logged.case_starts()
    result = OpeResult(
        candidate=name,
        decisions=len(logged),
        cases=len(starts),
        logged_value_per_decision=float(logged.reward.mean()),
        logged_value_per_case=float(logged.reward.sum() / max(len(starts), 1)),
        match_share=float(probability.mean()),
        estimates=estimates,
        case_weights=check,
    )
    deterministic = bool(np.all(logged.propensity >= 1.0 - 1e-12)) and cases is None
    if deterministic:
        result.warnings.append(
            "the logger never explored (every propensity is 1): the candidate is only "
            "observed where it agrees with the logger; enable exploration in the experiment"
        )
    for e in estimates:
        if e.ess < MIN_ESS:
            result.warnings.append(
                f"{e.estimator}: effective sample size {e.ess:.1f} < {MIN_ESS:g} — thin "
                "support: the candidate puts its mass where the logger rarely went; do not "
                "trust this estimate"
            )
    if result.match_share < MIN_MATCH_SHARE:
        result.warnings.append(
            f"the candidate agrees with only {result.match_share:.1%} of the logged "
            "treatments: thin support"
        )
    if cases is not None and check is not None:
        result.warnings.extend(_case_warnings(cases, check))
    return result


def _case_warnings(cases: LoggedCases, check: WeightCheck) -> list[str]:
    warnings = []
    if not check.consistent:
        warnings.append(
            f"MIS: mean case weight {check.mean:.3f} [{check.ci_low:.3f}, {check.ci_high:.3f}] "
            "should be 1 — the candidate runs cases no policy of the pool would (thin "
            "support: MIS undervalues it, SNMIS values only the supported part), or the "
            "logged case propensities are wrong"
        )
    if cases.mixed:
        warnings.append(
            f"{cases.mixed} case(s) left out: their decisions carry different mixtures (the "
            "shares changed, or a challenger was rolled back, mid-case)"
        )
    if cases.unexplained:
        warnings.append(
            f"{cases.unexplained} case(s) left out: no policy of their mixture makes their "
            "decisions — the policies loaded now are not those that served, or a re-check "
            "turned a contact into a WAIT"
        )
    if cases.runner_mismatch:
        warnings.append(
            f"{cases.runner_mismatch} decision(s) that their case's runner, loaded now, would "
            "not have served with the logged propensity: is it the version that served?"
        )
    return warnings


def html_report(results: list[OpeResult], title: str = "tact off-policy evaluation") -> str:
    """A self-contained page: a table per candidate and a CI plot (inline SVG)."""
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        PAGE_STYLE,
        f"<h1>{html.escape(title)}</h1>",
    ]
    for result in results:
        parts.append(
            f"<h2>{html.escape(result.candidate)}</h2><p>{result.decisions:,} decisions, "
            f"{result.cases:,} cases; logged value {result.logged_value_per_decision:.3f} per "
            f"decision, {result.logged_value_per_case:.2f} per case; candidate agrees with "
            f"{result.match_share:.1%} of logged treatments.</p>"
        )
        parts.append(estimates_table(result.estimates))
        if result.case_weights is not None:
            c = result.case_weights
            parts.append(
                f"<p>Case exploration: MIS and SNMIS weigh whole cases by the mixture of "
                f"policies that could have run them; the candidate agrees with "
                f"{c.matched_cases:,} cases from first decision to last; mean case weight "
                f"{c.mean:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}] (1 when supported and the "
                "logged case propensities are right).</p>"
            )
        parts.append(ci_svg(result.estimates))
        parts.extend(f"<p class='warn'>⚠ {html.escape(w)}</p>" for w in result.warnings)
    return "\n".join(parts) + "\n"


PAGE_STYLE = (
    "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
    ".warn{color:#a40}</style>"
)
"""The reports' shared look (``tact ope --report``, ``tact experiments report``)."""


def estimates_table(estimates: list[Estimate]) -> str:
    """One row per estimator: unit, value, 95 % CI, effective sample size."""
    rows = "".join(
        f"<tr><td>{e.estimator}</td><td>{e.unit}</td><td>{e.value:.4f}</td>"
        f"<td>[{e.ci_low:.4f}, {e.ci_high:.4f}]</td><td>{e.ess:.1f}</td></tr>"
        for e in estimates
    )
    return (
        "<table><tr><th>estimator</th><th>unit</th><th>value</th><th>95 % CI</th>"
        f"<th>ESS</th></tr>{rows}</table>"
    )


def ci_svg(estimates: list[Estimate]) -> str:
    """Each estimate's value and 95 % CI as a horizontal interval (inline SVG)."""
    finite = [e for e in estimates if np.isfinite([e.ci_low, e.ci_high, e.value]).all()]
    if not finite:
        return ""
    width, row = 480, 24
    low = min(e.ci_low for e in finite)
    high = max(e.ci_high for e in finite)
    span = (high - low) or 1.0

    def x(v: float) -> float:
        return 110 + (v - low) / span * (width - 130)

    lines = [f"<svg width='{width}' height='{row * len(finite) + 10}'>"]
    for k, e in enumerate(finite):
        y = 15 + k * row
        lines.append(f"<text x='5' y='{y + 4}' font-size='12'>{e.estimator}</text>")
        lines.append(
            f"<line x1='{x(e.ci_low):.1f}' x2='{x(e.ci_high):.1f}' y1='{y}' y2='{y}' "
            "stroke='#36c' stroke-width='3'/>"
        )
        lines.append(f"<circle cx='{x(e.value):.1f}' cy='{y}' r='4' fill='#c33'/>")
    lines.append("</svg>")
    return "".join(lines)


__all__ = ["OpeResult", "candidate_choices", "case_explored", "evaluate_candidate", "html_report"]
