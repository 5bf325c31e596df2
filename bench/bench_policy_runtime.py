"""Policy runtime benchmark: one decision (batch of 1) in the numpy runtime vs SB3 predict.

The reference is SB3's own ``MaskablePPO.predict(obs, action_masks=..., deterministic=True)``
on the same network, measured in the same run, interleaved round by round with the numpy
runtime so that machine noise hits both alike (these machines are shared and noisy).
``act`` on one row takes the runtime's one-row path; "numpy batch" times the batch path
on the same row (what ``act`` ran for one row before the one-row path existed), and the
"rng" rows the sampled decision (one long-lived generator per runtime).
Also timed, for scale: a batch of 1,024 decisions, and the rule-based baselines.

    .venv/bin/python bench/bench_policy_runtime.py [--decisions N] [--model NAME] [--json FILE]

Without ``--model`` it exports a freshly initialised MaskablePPO of the production shape
(default architecture; latency does not depend on the weights' values) to a temporary
folder and loads it through the real artifact path.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# One BLAS thread, set before numpy loads OpenBLAS, as torch gets one thread below: the
# service decides one case per call on one core, and on a shared 2-core machine idle BLAS
# threads spin against other processes (batch of 1024: 7.6 vs 60 µs per decision).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_P99_US = 100.0


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    arr = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {
        "p50_us": float(np.percentile(arr, 50)),
        "p99_us": float(np.percentile(arr, 99)),
        "mean_us": float(arr.mean()),
    }


def _time_interleaved(
    candidates: dict[str, Callable[[int], object]], n: int, rounds: int = 10
) -> dict[str, list[int]]:
    """Call each candidate ``n`` times in total, alternating blocks of n / rounds calls."""
    samples: dict[str, list[int]] = {name: [] for name in candidates}
    block = max(1, n // rounds)
    for _ in range(rounds):
        for name, call in candidates.items():
            out = samples[name]
            for i in range(block):
                start = time.perf_counter_ns()
                call(i)
                out.append(time.perf_counter_ns() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=5000, help="timed calls per runtime")
    parser.add_argument("--model", help="artifact name or path (default: fresh model)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    import torch
    from sb3_contrib import MaskablePPO

    from engine.catalogue import CATALOGUE
    from policies.artifacts import build_model_card, export_policy, load_rl_policy, load_sb3_model
    from policies.base import Policy
    from policies.ladder import LadderPolicy
    from policies.segmented import SegmentedPolicy
    from policies.synthetic_env import SyntheticMaskedEnv, random_masks, random_observations

    # The service runs one decision per request on one core; multi-threaded torch kernels
    # only add synchronisation at batch size 1, and the machine has 2 shared cores.
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model = load_sb3_model(args.model)
            policy = load_rl_policy(args.model)
        else:
            model = MaskablePPO("MlpPolicy", SyntheticMaskedEnv(), seed=0, device="cpu")
            card = build_model_card(
                model,
                name="bench",
                scenario="synthetic",
                seed=0,
                ruleset_version="bench",
                training_wall_time_s=0.0,
                timesteps=0,
            )
            policy = load_rl_policy(export_policy(model, Path(tmp) / "bench", card))

    rng = np.random.default_rng(0)
    n = args.decisions
    obs = random_observations(rng, n)
    masks = random_masks(rng, n, 0.5)
    rows = [(obs[i : i + 1], masks[i : i + 1]) for i in range(n)]

    def numpy_one(i: int) -> object:
        o, m = rows[i]
        return policy.act(o, m)

    def sb3_one(i: int) -> object:
        o, m = rows[i]
        return model.predict(o, action_masks=m, deterministic=True)

    def numpy_batch_one(i: int) -> object:
        o, m = rows[i]
        return policy._act_batch(o, m, None)

    one_rng, batch_rng = np.random.default_rng(1), np.random.default_rng(1)

    def numpy_one_rng(i: int) -> object:
        o, m = rows[i]
        return policy.act(o, m, one_rng)

    def numpy_batch_one_rng(i: int) -> object:
        o, m = rows[i]
        return policy._act_batch(o, m, batch_rng)

    def numpy_floor(i: int) -> object:
        # The cheapest call a numpy policy could make: shows the machine's own tail.
        return rows[i][1].any()

    candidates: dict[str, Callable[[int], object]] = {
        "numpy": numpy_one,
        "numpy batch": numpy_batch_one,
        "numpy rng": numpy_one_rng,
        "batch rng": numpy_batch_one_rng,
        "sb3": sb3_one,
        "1 numpy op": numpy_floor,
    }

    def baseline_one(baseline: Policy) -> Callable[[int], object]:
        return lambda i: baseline.act(*rows[i])

    candidates["ladder"] = baseline_one(LadderPolicy())
    candidates["segmented"] = baseline_one(SegmentedPolicy())

    for call in candidates.values():  # warm-up: caches, lazy initialisation, allocator
        for i in range(200):
            call(i)
    # Long-lived set-up objects out of the GC, as a serving process should do after start-up:
    # otherwise gen-2 collections of torch's objects land in the tail of every runtime.
    gc.collect()
    gc.freeze()
    samples = _time_interleaved(candidates, n)
    single = {name: _percentiles(s) for name, s in samples.items()}

    batch = 1024
    batch_obs, batch_masks = obs[:batch], masks[:batch]
    batch_ns: dict[str, list[int]] = {"numpy": [], "sb3": []}
    for _ in range(20):
        start = time.perf_counter_ns()
        policy.act(batch_obs, batch_masks)
        batch_ns["numpy"].append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        model.predict(batch_obs, action_masks=batch_masks, deterministic=True)
        batch_ns["sb3"].append(time.perf_counter_ns() - start)
    batched = {name: _percentiles(s)["p50_us"] / batch for name, s in batch_ns.items()}

    result = {
        "load_average_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "decisions": n,
        "n_actions": len(CATALOGUE),
        "net_arch": policy.weights.net_arch,
        "torch_threads": torch.get_num_threads(),
        "single_decision": single,
        "ratio_p50_numpy_over_sb3": single["numpy"]["p50_us"] / single["sb3"]["p50_us"],
        "ratio_p99_numpy_over_sb3": single["numpy"]["p99_us"] / single["sb3"]["p99_us"],
        "ratio_one_row_over_batch_path": {
            mode: {
                q: single[one][f"{q}_us"] / single[batch_path][f"{q}_us"] for q in ("p50", "p99")
            }
            for mode, one, batch_path in (
                ("deterministic", "numpy", "numpy batch"),
                ("sampled", "numpy rng", "batch rng"),
            )
        },
        "batch_1024_us_per_decision": batched,
        "target_p99_us": TARGET_P99_US,
        "meets_target": single["numpy"]["p99_us"] <= TARGET_P99_US,
    }
    print(
        f"single decision (batch of 1), {n} calls each, net {policy.weights.net_arch}; "
        f"load average {result['load_average_1m']:.2f} on {result['cpu_count']} CPUs:"
    )
    print(f"  {'runtime':<12} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9}")
    for name, p in single.items():
        print(f"  {name:<12} {p['p50_us']:9.1f} {p['p99_us']:9.1f} {p['mean_us']:9.1f}")
    print(
        f"numpy / sb3: p50 {result['ratio_p50_numpy_over_sb3']:.3f}, "
        f"p99 {result['ratio_p99_numpy_over_sb3']:.3f}; "
        f"target p99 ≤ {TARGET_P99_US:.0f} µs: {'met' if result['meets_target'] else 'MISSED'}"
    )
    for mode, ratios in result["ratio_one_row_over_batch_path"].items():
        print(
            f"one-row path / batch path on one row, {mode}: "
            f"p50 {ratios['p50']:.3f}, p99 {ratios['p99']:.3f}"
        )
    print(
        f"batch of {batch}, µs per decision: numpy {batched['numpy']:.2f}, sb3 {batched['sb3']:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
