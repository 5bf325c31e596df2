"""``tact experiments report``: an experiment's arms, guardrails, SRM and OPE, from the ledger."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from engine.experiments.guardrails import evaluate_guardrails, evaluate_srm
from engine.experiments.runtime import ExperimentRuntime, challenger_arm
from engine.experiments.spec import CHAMPION_ARM, parse_experiment
from engine.experiments.store import ExperimentStore
from engine.outcomes import PolicyArm
from policies.ope.estimators import Estimate
from policies.ope.logged import read_ledger
from policies.ope.run import PAGE_STYLE, case_explored, estimates_table, evaluate_candidate


def _runtime(store: ExperimentStore, experiment_id: str) -> tuple[ExperimentRuntime, str]:
    versions = store.versions(experiment_id)
    if not versions:
        raise ValueError(f"no experiment {experiment_id!r} in this ledger")
    version = versions[-1][0]
    text = store.version_text(experiment_id, version)
    spec, _ = parse_experiment(text, Path(f"<{experiment_id}@{version}>"))
    arms: dict[str, PolicyArm] = {}  # no policies needed for the statistics
    runtime = ExperimentRuntime(spec, version, text, Path(""), arms, ())
    return runtime.with_rollbacks(store.rollbacks(experiment_id)), text


def build_report(url: str, experiment_id: str, *, n_boot: int = 200) -> dict[str, Any]:
    store = ExperimentStore(url)
    try:
        runtime, _text = _runtime(store, experiment_id)
        stats = store.arm_stats(experiment_id)
        logged = read_ledger(url, experiment_id=experiment_id)
    finally:
        store.close()
    spec = runtime.spec
    arms: dict[str, Any] = {}
    names = [CHAMPION_ARM, *(challenger_arm(c.name) for c in spec.challengers)]
    for name in names:
        rows = logged.arm == name
        s = stats.get(name)
        rollback = runtime.rollbacks.get(name)
        arms[name] = {
            "decisions": int(rows.sum()),
            "contacts": int((rows & (logged.treatment_index != 0)).sum()),
            "debtors": s.debtors if s else 0,
            "debtors_paid": s.paid if s else 0,
            "debtors_complained": s.complained if s else 0,
            "debtors_opted_out": s.opted_out if s else 0,
            "paid_major": float(logged.reward[rows].sum()),
            "rolled_back": rollback is not None,
            "rollback_reason": rollback.reason if rollback else None,
        }
    guardrails = [
        {
            "arm": g.arm,
            "guardrail": g.guardrail,
            "arm_rate": g.arm_rate,
            "champion_rate": g.champion_rate,
            "statistic": g.statistic,
            "threshold": g.threshold,
            "crossed": g.crossed,
        }
        for g in evaluate_guardrails(runtime, stats, {}, include_rolled_back=True)
    ]
    srm = evaluate_srm(runtime, stats, 1)
    ope: dict[str, Any] = {}
    cases = case_explored(logged) if len(logged) else None
    explored = bool(len(logged)) and (bool(np.any(logged.propensity < 1.0)) or cases is not None)
    if explored:
        from policies.evaluate import resolve_policy

        for challenger in spec.challengers:
            result = evaluate_candidate(
                challenger.policy,
                resolve_policy(challenger.policy),
                logged,
                n_boot=n_boot,
                cases=cases,
            )
            ope[challenger_arm(challenger.name)] = result.to_json()
    return {
        "experiment_id": experiment_id,
        "version": runtime.version,
        "arms": arms,
        "guardrails": guardrails,
        "srm": None
        if srm is None
        else {"chi2": srm.chi2, "p_value": srm.p_value, "alarm": srm.alarm, "counts": srm.counts},
        "srm_note": "not checked once a challenger is rolled back (the split no longer "
        "follows the shares)"
        if srm is None and runtime.rollbacks
        else None,
        "ope": ope,
        "ope_note": None if explored else "no exploration logged: OPE not possible",
    }


def report_html(report: dict[str, Any]) -> str:
    """Arms (rollbacks with their reasons), a bar chart of per-arm rates (inline SVG), every
    guardrail test, the SRM check and the OPE of each challenger."""
    arms = report["arms"]
    counts = (
        "decisions",
        "contacts",
        "debtors",
        "debtors_paid",
        "debtors_complained",
        "debtors_opted_out",
    )
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{a[k]:,}</td>" for k in counts)
        + f"<td>{html.escape(a['rollback_reason']) if a['rolled_back'] else 'no'}</td></tr>"
        for name, a in arms.items()
    )
    bars = []
    for k, (name, a) in enumerate(arms.items()):
        n = max(a["debtors"], 1)
        for j, (label, key) in enumerate(
            (("paid", "debtors_paid"), ("complained", "debtors_complained"))
        ):
            width = 300 * a[key] / n
            y = 10 + (k * 2 + j) * 18
            bars.append(
                f"<rect x='150' y='{y}' width='{width:.1f}' height='14' fill='#36c'/>"
                f"<text x='5' y='{y + 11}' font-size='11'>{html.escape(name)} {label}</text>"
                f"<text x='{155 + width:.1f}' y='{y + 11}' font-size='11'>{a[key] / n:.1%}</text>"
            )
    svg = f"<svg width='520' height='{20 + 36 * len(arms)}'>{''.join(bars)}</svg>"
    guard = "".join(
        f"<tr><td>{html.escape(g['arm'])}</td><td>{g['guardrail']}</td>"
        f"<td>{g['arm_rate']:.4f}</td><td>{g['champion_rate']:.4f}</td>"
        f"<td>{g['statistic']:.3g}</td><td>{g['threshold']:.3g}</td>"
        f"<td>{'yes' if g['crossed'] else 'no'}</td></tr>"
        for g in report["guardrails"]
    )
    srm = report["srm"]
    if srm is not None:
        srm_text = (
            f"debtors per arm {srm['counts']}: χ² {srm['chi2']:.2f}, p {srm['p_value']:.3g}, "
            + ("<b>mismatch</b>" if srm["alarm"] else "no mismatch")
        )
    else:
        srm_text = html.escape(report.get("srm_note") or "not checked (no challenger)")
    ope = "".join(
        f"<h3>{html.escape(arm)}</h3>"
        + estimates_table([Estimate(**e) for e in block["estimates"]])
        + "".join(f"<p class='warn'>⚠ {html.escape(w)}</p>" for w in block["warnings"])
        for arm, block in report["ope"].items()
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>experiment report</title>"
        f"{PAGE_STYLE}<h1>Experiment {html.escape(report['experiment_id'])} "
        f"(version {report['version']})</h1>"
        "<table><tr><th>arm</th><th>decisions</th><th>contacts</th><th>debtors</th>"
        "<th>paid</th><th>complained</th><th>opted out</th><th>rolled back</th></tr>"
        f"{rows}</table>{svg}<h2>Guardrails</h2><p>One-sided mSPRT per guardrail: it "
        "crosses when the challenger is worse than the champion by more than the allowance "
        "and Λ reaches the threshold (Λ is large for a challenger that is clearly "
        "<i>better</i> too). A rolled-back challenger's tests are on all its debtors so far, "
        "who have had the champion since the rollback.</p><table><tr><th>arm</th>"
        "<th>guardrail</th><th>arm rate</th><th>champion rate</th><th>mSPRT Λ</th>"
        f"<th>threshold</th><th>crossed</th></tr>{guard}</table>"
        f"<h2>Sample ratio</h2><p>{srm_text}</p>"
        "<h2>Off-policy evaluation of the challengers</h2>"
        + (ope or f"<p>{html.escape(report.get('ope_note') or 'none')}</p>")
    )


__all__ = ["build_report", "report_html"]
