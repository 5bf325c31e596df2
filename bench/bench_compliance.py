"""Benchmark: compliance verdict + mask for one case (the service path), against a bare
``durable_rules`` post measured in the same run, interleaved call by call.

    .venv/bin/python bench/bench_compliance.py [--n 5000] [--write-docs]

Rows:

* reference — ``durable.engine.Host.post`` of a one-field event to a one-rule ruleset
  (what a minimal ``durable_rules`` use costs: JSON, engine, one Python action);
* ``evaluate(state)`` — from a ``CaseState``: ``CaseBatch.from_states``, fact derivation,
  one assert/drain/retract in durable_rules, the mask and the lazy explanation hooks;
* ``evaluate(state, batch)`` — the same with the one-row ``CaseBatch`` the service has
  already built for the featurizer;
* ``mask_batch`` — the simulator's numpy path, per case, on a batch of 10,000.

``--write-docs`` replaces the "## Compliance" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from durable.engine import Host

from engine.compliance import ComplianceEngine
from engine.compliance.sampling import random_states
from engine.state import CaseBatch

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def _bare_host() -> Host:
    host = Host()
    host.register_rulesets(
        {"bench_bare": {"r": {"all": [{"m": {"kind": "case"}}], "run": lambda c: None}}}
    )
    return host


def _pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1e6, q))


def run(n: int) -> dict[str, object]:
    engine = ComplianceEngine.load()
    states = random_states(engine, 2000, seed=11)
    batches = [CaseBatch.from_states([s]) for s in states]
    host = _bare_host()
    big = random_states(engine, 10_000, seed=12)
    big_batch = CaseBatch.from_states(big)
    big_dates = np.array([s.local_date for s in big], dtype="datetime64[D]")
    for i in range(300):  # warm-up: caches, holiday tables, allocator
        engine.evaluate(states[i % len(states)])
        host.post("bench_bare", {"sid": "1", "kind": "case"})
    gc.collect()
    gc.freeze()  # as the service should after start-up: no gen-2 pauses over set-up objects

    bare: list[float] = []
    full: list[float] = []
    shared: list[float] = []
    clock = time.perf_counter
    for i in range(n):
        k = i % len(states)
        t0 = clock()
        host.post("bench_bare", {"sid": "1", "kind": "case"})
        t1 = clock()
        engine.evaluate(states[k])
        t2 = clock()
        engine.evaluate(states[k], batches[k])
        t3 = clock()
        bare.append(t1 - t0)
        full.append(t2 - t1)
        shared.append(t3 - t2)

    batch_runs = []
    for _ in range(3):
        t0 = clock()
        engine.mask_batch(big_batch, big_dates)
        batch_runs.append((clock() - t0) / len(big))
    gc.unfreeze()

    rows = {
        "bare durable_rules post (reference)": bare,
        "evaluate(state): verdict + mask": full,
        "evaluate(state, batch): verdict + mask, shared CaseBatch": shared,
    }
    ref50, ref99 = _pct(bare, 50), _pct(bare, 99)
    table = [
        (name, _pct(v, 50), _pct(v, 99), _pct(v, 50) / ref50, _pct(v, 99) / ref99)
        for name, v in rows.items()
    ]
    per_case = min(batch_runs) * 1e6
    return {
        "n": n,
        "table": table,
        "batch_us_per_case": per_case,
        "batch_ratio": per_case / ref50,
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        "clauses": len(engine.compiled.clauses),
        "version": engine.version,
        "python": platform.python_version(),
        "date": date.today().isoformat(),
        "cpus": os.cpu_count(),
    }


def render(result: dict[str, object]) -> str:
    lines = [
        "| path | p50 µs | p99 µs | p50 / bare post | p99 / bare post |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, p50, p99, r50, r99 in result["table"]:  # type: ignore[attr-defined]
        lines.append(f"| {name} | {p50:.0f} | {p99:.0f} | {r50:.1f} | {r99:.1f} |")
    lines.append(
        f"| mask_batch, per case (10,000 rows) | {result['batch_us_per_case']:.1f} | — | "
        f"{result['batch_ratio']:.2f} | — |"
    )
    return "\n".join(lines)


def write_docs(result: dict[str, object], table: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    body = SECTION_TEMPLATE.format(table=table, **result)
    pattern = re.compile(r"^## Compliance\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    DOCS.write_text(text)


SECTION_TEMPLATE = """## Compliance

`bench/bench_compliance.py`: one compliance verdict + action mask for one case, as the
service computes it, interleaved call by call with a bare `durable_rules` post (reference:
`Host.post` of a one-field event to a one-rule ruleset). Cases: 2000 seeded random cases
over the 7 shipped jurisdictions ({clauses} compiled clauses, ruleset {version}).
`gc.freeze()` after set-up.

    .venv/bin/python bench/bench_compliance.py --n 5000 --write-docs

{n} calls each, {date}, shared {cpus}-core machine, load average {load:.1f} at the end:

{table}

Memory across hot reloads: see `bench/bench_rules_reload.py` below.

"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="calls per measured path")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    result = run(args.n)
    table = render(result)
    print(table)
    print(f"load average {result['load']:.1f}")
    if args.write_docs:
        write_docs(result, table)
        print(f"updated {DOCS}")


if __name__ == "__main__":
    main()
