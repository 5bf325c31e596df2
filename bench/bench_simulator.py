"""Simulator benchmark: debtor-days per second of the batched engine, masks included.

One step of :class:`simulator.batched.BatchedCollectionsSim` simulates one local day for
every debtor slot: the behaviour dynamics, the ledger-column fold, the observation
(``engine.features.featurize``) and the compliance mask (``ComplianceEngine.mask_batch``)
for the next decision. The process is pinned to one core with one BLAS thread. Timed,
interleaved step by step so that all see the same background load:

* ``step``: the whole day, compliance masks included (the figure the issue asks for);
* ``mask_batch`` alone and ``featurize`` alone on the same batch (what the step contains);
* ``step`` with :class:`UnshieldedMasks` (dynamics + featurize, no compliance);
* reference: ``featurize`` of the batch, the shared contract every decision pays; ratios
  to it compare across runs on this shared, noisy machine.

Policy time is excluded (the ladder's choices are computed before the timer starts).

    .venv/bin/python bench/bench_simulator.py [--n 16384] [--sizes 1024,4096,16384]
        [--days 30] [--write-docs]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.compliance import ComplianceEngine  # noqa: E402
from engine.features import featurize  # noqa: E402
from policies.ladder import LadderPolicy  # noqa: E402
from simulator.batched import BatchedCollectionsSim  # noqa: E402
from simulator.masks import MaskProvider, UnshieldedMasks  # noqa: E402
from simulator.scenario_loader import load_scenario  # noqa: E402
from simulator.vec_env import CollectionsVecEnv  # noqa: E402

DOCS = REPO / "docs" / "benchmarks.md"
HEADING = "## Simulator"
END_MARKER = "<!-- bench_simulator.py: end of generated part -->"


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return float(np.median(self.seconds))


def _warm(sim: BatchedCollectionsSim, days: int) -> None:
    """Run the population into a steady state (a mix of fresh and old cases)."""
    policy = LadderPolicy()
    sim.reset(seed=0)
    for _ in range(days):
        sim.step(policy.act(sim.observe(), sim.action_masks()).indices)


def measure(scenario: str, n: int, days: int, masks: MaskProvider) -> dict[str, Timing]:
    sc = load_scenario(scenario)
    shielded = BatchedCollectionsSim(sc, n, masks, seed=0, auto_reset=True)
    unshielded = BatchedCollectionsSim(sc, n, UnshieldedMasks(), seed=0, auto_reset=True)
    for sim in (shielded, unshielded):
        _warm(sim, 40)
    policy = LadderPolicy()
    out: dict[str, list[float]] = {k: [] for k in ("step", "masks", "featurize", "unshielded")}
    for _ in range(days):
        actions = policy.act(shielded.observe(), shielded.action_masks()).indices
        t0 = time.perf_counter()
        shielded.step(actions)
        t1 = time.perf_counter()
        masks.mask_batch(shielded.batch, shielded.local_dates)
        t2 = time.perf_counter()
        featurize(shielded.batch)
        t3 = time.perf_counter()
        actions = policy.act(unshielded.observe(), unshielded.action_masks()).indices
        t4 = time.perf_counter()
        unshielded.step(actions)
        t5 = time.perf_counter()
        for key, dt in zip(out, (t1 - t0, t2 - t1, t3 - t2, t5 - t4), strict=True):
            out[key].append(dt)
    return {k: Timing(k, v) for k, v in out.items()}


def measure_vec_env(scenario: str, n: int, days: int, masks: MaskProvider) -> float:
    """Seconds per VecEnv step + action_masks(), as MaskablePPO's collection loop calls them."""
    env = CollectionsVecEnv(n, scenario, masks=masks, seed=0)
    rng = np.random.default_rng(0)
    env.reset()
    times = []
    for _ in range(days):
        masks_now = env.action_masks()
        actions = np.argmax(rng.random(masks_now.shape) * masks_now, axis=1)
        t0 = time.perf_counter()
        env.step(actions)
        env.action_masks()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def report(timings: dict[str, Timing], vec_env_s: float, n: int, days: int, load: str) -> str:
    ref = timings["featurize"].median
    step = timings["step"].median
    masks = timings["masks"].median
    unshielded = timings["unshielded"].median
    dynamics = max(step - masks - ref, 0.0)
    rows = [
        ("featurize (reference)", ref),
        ("**step, compliance masks included**", step),
        ("… of which `mask_batch`", masks),
        ("… of which dynamics + ledger fold", dynamics),
        ("step with UnshieldedMasks (no compliance)", unshielded),
        ("VecEnv step + `action_masks()` (random actions)", vec_env_s),
    ]
    lines = [
        HEADING,
        "",
        "`bench/bench_simulator.py`: one simulated local day of a batch of debtors in",
        "`BatchedCollectionsSim` (behaviour dynamics, ledger-column fold, `featurize`, and",
        "the next decision's compliance mask from `ComplianceEngine.mask_batch`), pinned to",
        "one core with one BLAS thread, ladder policy (its time excluded), after 40 warm-up",
        "days with auto-reset so that old and new cases mix. Reference: `featurize` of the",
        "same batch, timed in the same loop.",
        "",
        "    .venv/bin/python bench/bench_simulator.py --write-docs",
        "",
        f"{n} debtors × {days} days (medians), {date.today().isoformat()}, "
        f"shared 2-core machine, {load}:",
        "",
        "| per simulated day | ms | µs / debtor-day | debtor-days / s | / featurize |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, seconds in rows:
        lines.append(
            f"| {label} | {seconds * 1e3:.1f} | {seconds / n * 1e6:.2f} | "
            f"{n / seconds:,.0f} | {seconds / ref:.1f} |"
        )
    lines.append("")
    return "\n".join(lines)


def write_docs(section: str) -> None:
    """Replace the generated part of the "## Simulator" section; hand-written notes after
    the end marker, and every other section, are kept."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    generated = section + END_MARKER + "\n"
    start = text.find(HEADING + "\n")
    if start < 0:
        DOCS.write_text(text.rstrip("\n") + "\n\n" + generated, encoding="utf-8")
        return
    next_heading = text.find("\n## ", start + len(HEADING))
    section_end = next_heading + 1 if next_heading >= 0 else len(text)
    marker = text.find(END_MARKER, start, section_end)
    cut = marker + len(END_MARKER) + 1 if marker >= 0 else section_end
    DOCS.write_text(text[:start] + generated + text[cut:], encoding="utf-8")


def scaling(rows: list[tuple[int, dict[str, Timing]]]) -> str:
    lines = [
        "Batch size (debtor slots stepped together) — the compliance mask and the",
        "featurizer have per-call costs that larger batches amortise:",
        "",
        "| debtors per step | step ms | debtor-days / s, masks included | without compliance |",
        "|---:|---:|---:|---:|",
    ]
    for n, t in rows:
        lines.append(
            f"| {n:,} | {t['step'].median * 1e3:.1f} | {n / t['step'].median:,.0f} | "
            f"{n / t['unshielded'].median:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="nordic-telecom")
    parser.add_argument("--n", type=int, default=16384, help="debtors of the main table")
    parser.add_argument("--sizes", default="1024,4096,16384", help="batch sizes to scale over")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    masks = ComplianceEngine.load()
    timings = measure(args.scenario, args.n, args.days, masks)
    vec_env_s = measure_vec_env(args.scenario, args.n, max(args.days // 2, 5), masks)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    scaled = [
        (n, timings if n == args.n else measure(args.scenario, n, args.days, masks)) for n in sizes
    ]
    load = "load average " + "/".join(f"{x:.1f}" for x in os.getloadavg())
    section = report(timings, vec_env_s, args.n, args.days, load) + "\n" + scaling(scaled)
    print(section)
    if args.write_docs:
        write_docs(section)
        print(f"wrote {DOCS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
