"""The evaluation report: one self-contained HTML file, charts embedded as base64 PNGs.

Readable offline (no scripts, no external fonts or images). Charts are drawn with
matplotlib's Agg backend: KPI bars with 95 % CIs, the champion and paired differences
against it and every baseline (overall and per hidden behaviour segment), cumulative
recovery by day in collection, the treatment mix per segment (a heat map of the most used
treatments, and step / channel / tone shares), send-hour histogram, and the paired gap of
every policy to the oracle.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.catalogue import CATALOGUE
from policies.comparison import PAIRED_KPIS, VIOLATIONS_KPI, paired_difference, treatment_mix
from policies.evaluate import REPORTED_ACTIONS, REPORTED_CHANNELS, REPORTED_TONES, Evaluation
from policies.model_card import current_code_revision

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_KPI_PANELS = (
    ("net_value_per_case", "net value per case (after churn cost)"),
    ("net_collections_per_case", "net collections per case"),
    ("resolution_rate", "resolution rate (%)"),
    ("plans_running", "plans running at the horizon (%)"),
    ("recovery_rate", "recovery rate (%)"),
    ("cost_per_case", "cost per case"),
    ("complaints_per_1000", "complaints per 1,000"),
    ("churn_90d", "churn within 90 days (%)"),
    ("nps", "NPS"),
    ("contacts_per_case", "contacts per case"),
    ("plan_break_rate", "plan break rate (%)"),
    (VIOLATIONS_KPI, "violations per 1,000 audited contacts"),
)
_TABLE_KPIS = (
    *PAIRED_KPIS[:4],
    "running_plan_value_per_case",
    *PAIRED_KPIS[4:],
    "plan_break_rate",
    VIOLATIONS_KPI,
)
_HEATMAP_TREATMENTS = 12
"""Most used treatments (over all policies) shown in the treatment-mix heat map."""
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;
max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
img{max-width:100%;height:auto;display:block;margin:1em 0}
.wide{overflow-x:auto;max-width:100%}
small{color:#555}
.note{color:#555;font-size:0.9em}
"""


def _figure_png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(fig: Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_figure_png(fig)}">'


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def kpi_bars(evaluation: Evaluation, data: dict[str, Any]) -> Figure:
    from matplotlib.figure import Figure

    names = list(data)
    fig = Figure(figsize=(16, 9))
    axes = fig.subplots(3, 4).ravel()
    colors = _colors(len(names))
    for ax, (key, label) in zip(axes, _KPI_PANELS, strict=True):
        kpis = [data[n]["kpis"] for n in names]
        # dtype=float: a KPI undefined on this run (JSON null) is plotted as missing (NaN).
        means = np.array([k.get(key, {"mean": np.nan})["mean"] for k in kpis], dtype=float)
        lows = np.array(
            [k.get(key, {"ci95": [np.nan, np.nan]})["ci95"][0] for k in kpis], dtype=float
        )
        highs = np.array(
            [k.get(key, {"ci95": [np.nan, np.nan]})["ci95"][1] for k in kpis], dtype=float
        )
        err = np.vstack([means - lows, highs - means])
        ax.bar(range(len(names)), means, yerr=err, color=colors, capsize=4)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.axhline(0, color="#888", linewidth=0.5)
    fig.suptitle("KPIs with 95 % confidence intervals")
    fig.tight_layout()
    return fig


def recovery_curves(evaluation: Evaluation) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5))
    ax = fig.subplots()
    for color, (name, run) in zip(
        _colors(len(evaluation.runs)), evaluation.runs.items(), strict=True
    ):
        days = np.arange(1, run.recovered_by_day.size + 1)
        ax.plot(days, 100 * run.recovered_by_day, label=name, color=color)
    ax.set_xlabel("days in collection")
    ax.set_ylabel("collected / original balance (%)")
    ax.set_title("Cumulative recovery by day")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mix_by_segment(evaluation: Evaluation) -> Figure:
    """Per policy: share of each step, channel and tone among executed contacts, per segment."""
    from matplotlib.figure import Figure

    segments = list(evaluation.scenario.segment_names)
    runs = list(evaluation.runs.items())
    fig = Figure(figsize=(16, 2.6 * len(runs) + 0.5))
    axes = np.asarray(fig.subplots(len(runs), 3, squeeze=False))
    action_colors = _colors(len(REPORTED_ACTIONS))
    channel_colors = _colors(len(REPORTED_CHANNELS))
    tone_colors = ["#4daf4a", "#999999", "#e41a1c"]
    for row, (name, run) in enumerate(runs):
        panels = (
            ("step", run.action_mix, [a.name.lower() for a in REPORTED_ACTIONS], action_colors),
            (
                "channel",
                run.channel_mix,
                [c.name.lower() for c in REPORTED_CHANNELS],
                channel_colors,
            ),
            ("tone", run.tone_mix, [t.name.lower() for t in REPORTED_TONES], tone_colors),
        )
        for col, (what, mix, labels, colors) in enumerate(panels):
            ax = axes[row, col]
            totals = mix.sum(axis=1, keepdims=True)
            shares = np.divide(mix, totals, out=np.zeros(mix.shape), where=totals > 0)
            left = np.zeros(len(segments))
            for j, label in enumerate(labels):
                ax.barh(segments, shares[:, j], left=left, color=colors[j], label=label)
                left += shares[:, j]
            per_case = ", ".join(f"{int(t)}" for t in totals[:, 0])
            ax.set_xlim(0, 1)
            ax.set_title(f"{name}: {what} mix (contacts: {per_case})", fontsize=9)
            ax.tick_params(labelsize=8)
            if row == 0:
                ax.legend(fontsize=6, ncol=min(len(labels), 4), loc="lower right")
    fig.tight_layout()
    return fig


def treatment_heatmap(evaluation: Evaluation) -> Figure:
    """Per policy: share of each segment's contacts that went to each of the most used
    treatments (over all policies), with the segment's top share and entropy."""
    from matplotlib.figure import Figure

    segments = list(evaluation.scenario.segment_names)
    runs = list(evaluation.runs.items())
    total = sum(run.treatment_counts.sum(axis=0) for _, run in runs)
    shown = [int(i) for i in np.argsort(-total)[:_HEATMAP_TREATMENTS] if total[i] > 0]
    fig = Figure(figsize=(16, 2.4 * len(runs) + 1.5))
    axes = np.asarray(fig.subplots(len(runs), 1, squeeze=False))[:, 0]
    labels = [CATALOGUE.labels[i].replace("/", " ") for i in shown]
    for ax, (name, run) in zip(axes, runs, strict=True):
        counts = run.treatment_counts
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
        ax.imshow(shares[:, shown], aspect="auto", cmap="Blues", vmin=0, vmax=1)
        rows = []
        for s, segment in enumerate(segments):
            mix = treatment_mix(counts[s])
            rows.append(f"{segment} (top {mix.top_share:.0%}, {mix.entropy_bits:.1f} bits)")
        ax.set_yticks(range(len(segments)), rows, fontsize=8)
        ax.set_xticks(
            range(len(shown)), labels if ax is axes[-1] else [], rotation=35, ha="right", fontsize=7
        )
        for s in range(len(segments)):
            for j, i in enumerate(shown):
                if shares[s, i] >= 0.05:
                    ax.text(
                        j,
                        s,
                        f"{shares[s, i]:.0%}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if shares[s, i] > 0.5 else "black",
                    )
        overall = treatment_mix(counts.sum(axis=0))
        ax.set_title(
            f"{name}: {overall.contacts:,} contacts; top treatment {overall.top_share:.0%}, "
            f"entropy {overall.entropy_bits:.1f} bits",
            fontsize=9,
        )
    fig.tight_layout()
    return fig


def segment_gains(evaluation: Evaluation, reference: str) -> Figure:
    """Paired net value per case against ``reference``, per hidden behaviour segment."""
    from matplotlib.figure import Figure

    segments = list(evaluation.scenario.segment_names)
    ref = evaluation.runs[reference].outcomes
    names = [n for n in evaluation.runs if n != reference]
    fig = Figure(figsize=(12, 4.5))
    ax = fig.subplots()
    width = 0.8 / max(len(names), 1)
    for k, (color, name) in enumerate(zip(_colors(len(names)), names, strict=True)):
        run = evaluation.runs[name].outcomes
        stats = []
        for s in range(len(segments)):
            rows = np.flatnonzero(ref.segment == s)
            stats.append(paired_difference(run.take(rows), ref.take(rows), "net_value_per_case"))
        means = np.array([m for m, _, _ in stats])
        err = np.array([[m - lo for m, lo, _ in stats], [hi - m for m, _, hi in stats]])
        x = np.arange(len(segments)) + k * width - 0.4
        ax.bar(x, means, width, yerr=err, color=color, label=name, capsize=3, align="edge")
    ax.set_xticks(range(len(segments)), segments, fontsize=9)
    ax.axhline(0, color="#888", linewidth=0.5)
    ax.set_ylabel(f"net value per case − {reference}")
    ax.set_title(f"Paired net value per case vs {reference}, by behaviour segment (95 % CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def send_hours(evaluation: Evaluation) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    runs = list(evaluation.runs.items())
    hours = np.arange(24)
    used = np.flatnonzero(sum(r.send_hours for _, r in runs) > 0)
    shown = hours[used.min() : used.max() + 1] if used.size else hours[7:22]
    width = 0.8 / max(len(runs), 1)
    for i, (color, (name, run)) in enumerate(zip(_colors(len(runs)), runs, strict=True)):
        total = max(int(run.send_hours.sum()), 1)
        ax.bar(
            shown + i * width - 0.4,
            100 * run.send_hours[shown] / total,
            width,
            label=name,
            color=color,
            align="edge",
        )
    ax.set_xticks(shown)
    ax.set_xlabel("local hour the contact is placed (letters: posted)")
    ax.set_ylabel("% of the policy's contacts")
    ax.set_title("Send hours")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def oracle_gap(evaluation: Evaluation, oracle: str) -> Figure:
    from matplotlib.figure import Figure

    ref = evaluation.runs[oracle].outcomes
    names = [n for n in evaluation.runs if n != oracle]
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, kpi, label in (
        (axes[0], "net_value_per_case", "net value per case"),
        (axes[1], "reward_per_case", "reward per case (RL objective)"),
    ):
        stats = [paired_difference(evaluation.runs[n].outcomes, ref, kpi) for n in names]
        means = np.array([s[0] for s in stats])
        err = np.array([[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]])
        ax.bar(range(len(names)), means, yerr=err, color=_colors(len(names)), capsize=4)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="#888", linewidth=0.5)
        ax.set_title(f"{label}: policy − {oracle} (paired, 95 % CI)", fontsize=9)
    fig.tight_layout()
    return fig


def _fmt(k: dict[str, Any] | None) -> str:
    if k is None or k["mean"] is None:
        return "—"
    lo, hi = k["ci95"]
    return f"{k['mean']:.2f} <small>[{lo:.2f}, {hi:.2f}]</small>"


def _table(head: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """An HTML table (cells already HTML), scrolling sideways if it is wide."""
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        f"<tr><td>{html.escape(label)}</td>{''.join(f'<td>{c}</td>' for c in cells)}</tr>"
        for label, cells in rows
    )
    return f'<div class="wide"><table><tr>{th}</tr>{body}</table></div>'


def _label(kpi: str) -> str:
    return kpi.replace("_", " ")


def _kpi_table(data: dict[str, Any]) -> str:
    """KPIs as rows, policies as columns."""
    names = list(data)
    rows = [(_label(k), [_fmt(data[n]["kpis"].get(k)) for n in names]) for k in _TABLE_KPIS]
    return _table(["KPI", *names], rows)


def _paired_table(data: dict[str, Any], reference: str) -> str:
    """Every paired KPI of each policy against ``reference``: KPIs as rows."""
    names = [n for n, block in data.items() if reference in block["paired"]]
    if not names:
        return ""
    keys = ["net_value_per_case_rel_pct", "net_collections_per_case_rel_pct", *PAIRED_KPIS]
    rows = [
        (
            f"Δ {_label(k).replace(' rel pct', ', %')}",
            [_fmt(data[n]["paired"][reference].get(k)) for n in names],
        )
        for k in keys
    ]
    return _table(["policy − " + reference, *names], rows)


def _baseline_matrix(data: dict[str, Any]) -> str:
    """Net value per case of each policy minus each baseline (paired), one table."""
    baselines = sorted({b for block in data.values() for b in block["paired"]})
    if not baselines:
        return ""
    rows = [
        (
            name,
            [_fmt(block["paired"].get(b, {}).get("net_value_per_case")) for b in baselines],
        )
        for name, block in data.items()
    ]
    return _table(["policy", *[f"− {b}" for b in baselines]], rows)


def _mix_table(data: dict[str, Any], segments: list[str]) -> str:
    """Top treatment's share and entropy: segments as rows, policies as columns."""
    names = list(data)

    def cell(mix: dict[str, Any] | None) -> str:
        if mix is None or not mix["contacts"]:
            return "—"
        top = html.escape(mix["top_treatment"].replace("/", " "))
        return f"{mix['top_share']:.0%} · {mix['entropy_bits']:.1f} bits<br><small>{top}</small>"

    rows = [("all", [cell(data[n]["treatment_mix"]) for n in names])]
    rows += [
        (s, [cell(data[n]["by_segment"].get(s, {}).get("treatment_mix")) for n in names])
        for s in segments
    ]
    return _table(["segment", *names], rows)


def _audit_table(evaluation: Evaluation) -> str:
    rows = []
    for name, run in evaluation.runs.items():
        a = run.audit
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{a.decisions:,}</td><td>{a.contacts_executed:,}"
            f"</td><td>{a.contacts_audited:,} ({a.sample})</td><td>{a.violations}</td>"
            f"<td>{a.blocked_requests}</td><td>{a.reconstruction_errors}</td>"
            f"<td>{run.seconds:.0f}</td></tr>"
        )
    return (
        "<table><tr><th>policy</th><th>decisions</th><th>contacts executed</th>"
        "<th>contacts audited (durable_rules)</th><th>violations</th><th>blocked requests</th>"
        "<th>reconstruction errors</th><th>seconds</th></tr>" + "".join(rows) + "</table>"
    )


def render_report(evaluation: Evaluation) -> str:
    """The report as an HTML string."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    payload = evaluation.to_json()
    data = payload["policies"]
    best = payload["champion"]
    sc = evaluation.scenario
    title = f"tact evaluation — {sc.name}"
    meta = (
        f"{evaluation.debtors:,} debtors per policy, seed {evaluation.seed}, "
        f"{'randomised behaviour parameters' if evaluation.randomise else 'nominal parameters'}, "
        f"horizon {sc.horizon_days} days, code revision {html.escape(current_code_revision())}"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{meta}</p>",
        '<p class="note">Every policy meets the same simulated debtors (the same population '
        "draws: observable facts and hidden traits) and the same luck per debtor and day "
        "(common random numbers). RL policies run deterministically, as served. Means with 95 % "
        "confidence intervals (normal approximation; ratios by the delta method; violations by "
        "the exact binomial interval). Net collections = cash discounted to the start of the "
        "episode + expected value of plans still running at the horizon + expected legal "
        "recovery − contact and legal costs; net value = net collections − churn price × "
        "probability of churn. Resolution counts paid, settled and completed plans only.</p>",
        "<h2>KPIs</h2>",
        _kpi_table(data),
        _img(kpi_bars(evaluation, data), "KPI bars with 95 % CIs"),
    ]
    if best is not None:
        parts += [
            f"<h2>Paired differences vs the champion ({html.escape(best)})</h2>",
            '<p class="note">The champion is the better of <code>segmented</code> and '
            "<code>best-simple</code> by net value per case. Per-debtor differences over the "
            "same debtors (policy − champion); relative differences are divided by the "
            "champion's magnitude, and left out (—) where the champion's own interval contains "
            "0: a change relative to an unknown size means nothing.</p>",
            _paired_table(data, best),
            _img(segment_gains(evaluation, best), "paired net value by segment"),
        ]
    parts += [
        "<h2>Net value per case against every baseline (paired)</h2>",
        _baseline_matrix(data),
        "<h2>Cumulative recovery by day</h2>",
        _img(recovery_curves(evaluation), "cumulative recovery by day"),
        "<h2>Treatment mix by behaviour segment</h2>",
        '<p class="note">Share of each segment\'s executed contacts per treatment (the most used '
        "treatments over all policies); top share and entropy of the whole distribution. A "
        "policy that personalises uses different treatments in different segments.</p>",
        _mix_table(data, list(sc.segment_names)),
        _img(treatment_heatmap(evaluation), "treatment mix heat map by segment"),
        "<h2>Step, channel and tone mix by behaviour segment</h2>",
        '<p class="note">Segments are the simulator\'s hidden behaviour segments; policies do '
        "not see them.</p>",
        _img(mix_by_segment(evaluation), "step, channel and tone mix by segment"),
        "<h2>Send hours</h2>",
        _img(send_hours(evaluation), "send-hour histogram"),
    ]
    if "oracle" in evaluation.runs and len(evaluation.runs) > 1:
        parts += [
            "<h2>Gap to the oracle</h2>",
            '<p class="note">The oracle reads the hidden debtor state and plans one day ahead: '
            "an upper reference, not a bound.</p>",
            _img(oracle_gap(evaluation, "oracle"), "gap to the oracle"),
        ]
    parts += ["<h2>Compliance audit</h2>", _audit_table(evaluation), "</body></html>"]
    return "\n".join(parts)


def write_report(evaluation: Evaluation, path: Path) -> Path:
    """Write the HTML report to ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(evaluation), encoding="utf-8")
    return path


__all__ = ["render_report", "write_report"]
