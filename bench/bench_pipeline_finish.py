"""The decision pipeline after the policy has chosen: ``DecisionPipeline._finish`` (send
time, review time, rule hits, explanation, the ``DecisionOutcome``), the policy-contract
check, ``DecisionOutcome.record`` / ``reservation`` and ``decide_many`` for one case, each
against its previous implementation in the same run.

The previous implementations are kept below as they were, only renamed (``reference_*``,
:class:`ReferencePipeline`), so that the figures are ratios measured on the same machine
at the same time (these machines are shared and noisy), and so that
tests/engine/test_pipeline.py can prove the new code gives the same outcomes, records and
reservations. Old and new calls are interleaved, case by case and function by function,
in alternating order; set-up objects are frozen out of the garbage collector first.

    .venv/bin/python bench/bench_pipeline_finish.py [--rounds 300] [--json out.json]

Inputs: the service's components as ``tact serve`` builds them (shipped policy, SQLite
ledger in a temporary directory, rules not watched) and the 10 example cases
(examples/cases/*.json), decided one at a time at :data:`NOW` (a request clock is rarely
on a whole minute). ``reservation`` is unchanged: its ratio shows the noise floor.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402, F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import numpy as np  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from engine.catalogue import CATALOGUE, SLOT_HOURS, Slot, Treatment  # noqa: E402
from engine.compliance import RuleHit  # noqa: E402
from engine.features import featurize, featurize_row  # noqa: E402
from engine.ledger import DecisionRecord  # noqa: E402
from engine.explanations import explain  # noqa: E402
from engine.outcomes import DecisionOutcome, PolicyArm  # noqa: E402
from engine.pipeline import DecisionPipeline, _checked_single, _Prepared  # noqa: E402
from engine.state import CaseBatch, CaseSnapshot, EventKind, LedgerEvent  # noqa: E402
from policies.base import check_decisions  # noqa: E402
from tact.v1 import case_pb2  # noqa: E402

NOW = datetime(2026, 11, 26, 9, 0, 17, 250000, tzinfo=UTC)
EXAMPLES = sorted((REPO / "examples" / "cases").glob("*.json"))


# ---- reference: the implementations before this change (engine/pipeline.py) --------------
def reference_ceil_minute(at: datetime) -> datetime:
    floored = at.replace(second=0, microsecond=0)
    return floored if floored == at else floored + timedelta(minutes=1)


def reference_unique_hits(hits: Sequence[RuleHit]) -> tuple[RuleHit, ...]:
    seen: dict[str, RuleHit] = {}
    for hit in hits:
        seen.setdefault(hit.rule_id, hit)
    return tuple(seen.values())


def reference_explain(
    treatment: Treatment,
    send_at: datetime | None,
    next_review: datetime | None,
    p: _Prepared,
    arm: PolicyArm,
    hits: tuple[RuleHit, ...],
) -> str:
    allowed = int(p.mask.sum()) - 1
    restricted = f"; restricted today by {', '.join(h.rule_id for h in hits[:4])}" if hits else ""
    more = f" (+{len(hits) - 4} more)" if len(hits) > 4 else ""
    if send_at is not None:
        local = send_at.astimezone(p.zone)
        what = (
            f"{treatment.action.name.replace('_', ' ').lower()} by "
            f"{treatment.channel.name.lower()}, {treatment.tone.name.lower()} tone"
        )
        if treatment.offer.name != "NONE":
            what += f", offer {treatment.offer.name}"
        when = f"at {local:%a %d %b %H:%M} local ({p.zone.key})"
    else:
        assert next_review is not None
        local = next_review.astimezone(p.zone)
        what = "wait"
        when = f"review again {local:%a %d %b %H:%M} local"
    return (
        f"{what} {when}; chosen by {arm.policy.name} ({arm.name}) among {allowed} allowed "
        f"contact steps{restricted}{more}."
    )


def reference_record(outcome: DecisionOutcome, inputs_digest: str) -> DecisionRecord:
    return DecisionRecord(
        decision_id=outcome.decision_id,
        case_id=outcome.snapshot.case_id,
        debtor_id=outcome.snapshot.debtor_id,
        decided_at=outcome.decided_at,
        treatment_index=outcome.index,
        treatment_label=outcome.treatment.label,
        policy_name=outcome.policy_name,
        policy_version=outcome.policy_version,
        policy_arm=outcome.arm,
        propensity=min(1.0, outcome.propensity),
        ruleset_version=outcome.ruleset_version,
        inputs_digest=inputs_digest,
        send_at=outcome.send_at,
        next_review_at=outcome.next_review_at,
        rule_ids=tuple(h.rule_id for h in outcome.rule_hits),
        explanation=outcome.explanation,
        replayable=True,  # a request's digest: a repeat of the request gets it back
    )


def reference_reservation(outcome: DecisionOutcome) -> LedgerEvent | None:
    if outcome.send_at is None:
        return None
    return LedgerEvent(
        event_id=f"planned:{outcome.decision_id}",
        case_id=outcome.snapshot.case_id,
        kind=EventKind.CONTACT_PLANNED,
        occurred_at=outcome.send_at,
        channel=outcome.treatment.channel,
        action=outcome.treatment.action,
        decision_id=outcome.decision_id,
        debtor_id=outcome.snapshot.debtor_id,
    )


class ReferencePipeline(DecisionPipeline):
    """``DecisionPipeline`` with the previous ``decide_many`` / ``_finish`` / ``_next_review``."""

    @classmethod
    def like(cls, pipeline: DecisionPipeline) -> ReferencePipeline:
        """The same rules, ledger, policies and settings as ``pipeline``."""
        return cls(
            rules=pipeline.rules,
            ledger=pipeline.ledger,
            champion=pipeline.champion.policy,
            challenger=pipeline.challenger.policy if pipeline.challenger else None,
            challenger_share=pipeline.challenger_share,
            explore=pipeline.explore,
        )

    def decide_many(
        self,
        cases: Sequence[tuple[CaseSnapshot, Sequence[LedgerEvent], datetime]],
        *,
        dry_run: bool = False,
    ) -> list[DecisionOutcome | Exception]:
        stored: dict[str, list[LedgerEvent]] | Exception | None = None
        if len(cases) > 1:
            try:
                stored = self.ledger.events_for_cases(
                    [snapshot.case_id for snapshot, _, _ in cases],
                    since=min(now for _, _, now in cases) - timedelta(days=3650),
                )
            except Exception as exc:
                stored = exc
        prepared: list[_Prepared | Exception] = []
        for snapshot, events, now in cases:
            try:
                if isinstance(stored, Exception):
                    raise stored
                history = None if stored is None else stored[snapshot.case_id]
                prepared.append(self._prepare(snapshot, events, now, history))
            except Exception as exc:
                prepared.append(exc)
        results: list[DecisionOutcome | Exception] = list(prepared)  # type: ignore[arg-type]
        by_arm: dict[str, list[int]] = {}
        for row, p in enumerate(prepared):
            if isinstance(p, _Prepared):
                by_arm.setdefault(self.arm_for(p.snapshot.case_id).name, []).append(row)
        for arm_name, rows in by_arm.items():
            arm = self.champion if arm_name == "champion" else self.challenger
            assert arm is not None
            ready = [p for r in rows if isinstance(p := prepared[r], _Prepared)]
            masks = np.stack([p.mask for p in ready])
            if len(ready) == 1:
                observations = featurize_row(ready[0].row)[None, :]
            else:
                observations = featurize(CaseBatch.from_rows([p.row for p in ready]))
            rng = np.random.default_rng() if self.explore else None
            decisions = arm.policy.act(observations, masks, rng)
            check_decisions(decisions, masks)
            for k, (row, p) in enumerate(zip(rows, ready, strict=True)):
                results[row] = self._finish(
                    p,
                    int(decisions.indices[k]),
                    float(decisions.propensities[k]),
                    arm,
                    observations[k],
                    dry_run=dry_run,
                )
        return results

    def _finish(
        self,
        p: _Prepared,
        index: int,
        propensity: float,
        arm: PolicyArm,
        observation: np.ndarray,
        *,
        dry_run: bool,
    ) -> DecisionOutcome:
        now = p.state.as_of
        treatment = CATALOGUE[index]
        send_at: datetime | None = None
        next_review: datetime | None = None
        if treatment.is_contact:
            window = p.verdict.window_utc(index)
            if window is None or window[1] <= now:
                raise RuntimeError(
                    f"compliance verdict allowed {treatment.label} without an open send window"
                )
            earliest = max(window[0], now)
            send_at = reference_ceil_minute(earliest)
            if send_at >= window[1]:
                send_at = earliest
        else:
            next_review = self.reference_next_review(p, now)
        hits = reference_unique_hits(p.verdict.shaping_hits)
        return DecisionOutcome(
            decision_id=str(uuid.uuid4()),
            snapshot=p.snapshot,
            index=index,
            treatment=treatment,
            decided_at=now,
            zone=p.zone,
            send_at=send_at,
            next_review_at=next_review,
            policy_name=arm.policy.name,
            policy_version=arm.policy.version,
            arm=arm.name,
            propensity=propensity,
            sampled=self.explore,
            ruleset_version=p.verdict.ruleset_version,
            rule_hits=hits,
            explanation=reference_explain(treatment, send_at, next_review, p, arm, hits),
            dry_run=dry_run,
            observation=observation,
            mask=p.mask,
        )

    def reference_next_review(self, p: _Prepared, now: datetime) -> datetime:
        days_left = int(p.row["breathing_space_days_left"])
        if p.mask[1:].any() or days_left == 0:
            review_day = p.state.local_date + timedelta(days=1)
        else:
            review_day = p.state.local_date + timedelta(days=days_left)
        morning = datetime.combine(review_day, wall_time(SLOT_HOURS[Slot.MORNING][0]), p.zone)
        return morning.astimezone(UTC)


# ---- inputs -------------------------------------------------------------------------------
def example_cases() -> list[tuple[CaseSnapshot, list[LedgerEvent]]]:
    from engine.convert import case_from_proto

    return [
        case_from_proto(json_format.Parse(path.read_text(), case_pb2.Case())) for path in EXAMPLES
    ]


def finish_args(
    pipeline: DecisionPipeline,
    cases: Sequence[tuple[CaseSnapshot, Sequence[LedgerEvent]]],
    now: datetime,
) -> list[tuple[_Prepared, int, float, PolicyArm, np.ndarray]]:
    """``_finish``'s arguments for each case, as ``decide_many`` makes them (one at a time)."""
    out = []
    for snapshot, events in cases:
        p = pipeline._prepare(snapshot, events, now)
        arm = pipeline.arm_for(snapshot.case_id)
        observations = featurize_row(p.row)[None, :]
        decisions = arm.policy.act(observations, p.mask[None, :].copy(), None)
        index, propensity = int(decisions.indices[0]), float(decisions.propensities[0])
        out.append((p, index, propensity, arm, observations[0]))
    return out


# ---- timing -------------------------------------------------------------------------------
Pair = tuple[Callable[..., object], Callable[..., object], Sequence[tuple[object, ...]]]


def interleaved(pairs: dict[str, Pair], rounds: int) -> dict[str, dict[str, float]]:
    """p50/p99 (µs) of each (old, new) pair over its inputs: every round walks the cases
    and, per case, every function, old and new alternately (the order flips each round)."""
    clock = time.perf_counter_ns
    samples: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in pairs}
    n_inputs = max(len(inputs) for _, _, inputs in pairs.values())
    for r in range(rounds):
        for i in range(n_inputs):
            for name, (old, new, inputs) in pairs.items():
                args = inputs[i % len(inputs)]
                old_ns, new_ns = samples[name]
                order = (
                    ((old, old_ns), (new, new_ns)) if r % 2 == 0 else ((new, new_ns), (old, old_ns))
                )
                for fn, out in order:
                    t0 = clock()
                    fn(*args)
                    out.append(clock() - t0)
    results = {}
    for name, (old_ns, new_ns) in samples.items():
        old_p50, new_p50 = statistics.median(old_ns) / 1000, statistics.median(new_ns) / 1000
        results[name] = {
            "old_p50_us": old_p50,
            "new_p50_us": new_p50,
            "ratio_p50": new_p50 / old_p50,
            "old_p99_us": float(np.percentile(old_ns, 99)) / 1000,
            "new_p99_us": float(np.percentile(new_ns, 99)) / 1000,
            "calls": len(new_ns),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="passes over the cases")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from engine.app import build_components
    from engine.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(port=0, database_url=f"sqlite:///{tmp}/b.db", rules_watch=False)
        components = build_components(settings)
        try:
            results = _run(components.pipeline, args.rounds)
            policy = components.pipeline.champion.policy.name
        finally:
            components.close()
    heads = ("old p50", "new p50", "new/old", "old p99", "new p99")
    print(f"{'function (one case)':44} " + " ".join(f"{h:>9}" for h in heads))
    for name, r in results.items():
        print(
            f"{name:44} {r['old_p50_us']:8.2f}µ {r['new_p50_us']:8.2f}µ {r['ratio_p50']:9.2f} "
            f"{r['old_p99_us']:8.2f}µ {r['new_p99_us']:8.2f}µ"
        )
    print(
        f"({len(EXAMPLES)} example cases, {args.rounds} rounds, policy {policy}; "
        "old and new interleaved)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _run(pipeline: DecisionPipeline, rounds: int) -> dict[str, dict[str, float]]:
    reference = ReferencePipeline.like(pipeline)
    cases = example_cases()
    finishing = finish_args(pipeline, cases, NOW)
    outcomes = [pipeline._finish(*a, dry_run=True) for a in finishing]
    digest = "0" * 64

    def explain_new(p: _Prepared, index: int, arm: PolicyArm, o: DecisionOutcome) -> str:
        # The mask count and the rule ids now come from _finish (timed there).
        rule_ids = [h.rule_id for h in o.rule_hits]
        allowed = int(np.count_nonzero(p.mask)) - 1
        chosen_by = f"{arm.policy.name} ({arm.name})"
        return explain(index, o.send_at, o.next_review_at, p.zone, allowed, chosen_by, rule_ids)

    def explain_old(p: _Prepared, index: int, arm: PolicyArm, o: DecisionOutcome) -> str:
        return reference_explain(o.treatment, o.send_at, o.next_review_at, p, arm, o.rule_hits)

    def check_old(policy_out: Any, mask: np.ndarray) -> object:
        masks = np.stack([mask])
        check_decisions(policy_out, masks)
        return int(policy_out.indices[0]), float(policy_out.propensities[0])

    def check_new(policy_out: Any, mask: np.ndarray) -> object:
        return _checked_single(policy_out, mask, mask[None, :].copy())

    policy_outs = [
        (arm.policy.act(obs[None, :], p.mask[None, :].copy(), None), p.mask)
        for p, _, _, arm, obs in finishing
    ]
    pairs: dict[str, Pair] = {
        "_finish": (
            lambda *a: reference._finish(*a, dry_run=True),
            lambda *a: pipeline._finish(*a, dry_run=True),
            finishing,
        ),
        "  _explain": (
            explain_old,
            explain_new,
            [(a[0], a[1], a[3], o) for a, o in zip(finishing, outcomes, strict=True)],
        ),
        "policy check (stack + check_decisions)": (check_old, check_new, policy_outs),
        "DecisionOutcome.record": (
            reference_record,
            DecisionOutcome.record,
            [(o, digest) for o in outcomes],
        ),
        "DecisionOutcome.reservation (unchanged)": (
            reference_reservation,
            DecisionOutcome.reservation,
            [(o,) for o in outcomes],
        ),
        "decide_many (one case, dry run)": (
            lambda c: reference.decide_many(c, dry_run=True),
            lambda c: pipeline.decide_many(c, dry_run=True),
            [([(snapshot, events, NOW)],) for snapshot, events in cases],
        ),
    }
    for _ in range(20):  # warm both paths (caches, branch predictors, lazy imports)
        for old, new, inputs in pairs.values():
            for a in inputs:
                old(*a)
                new(*a)
    gc.collect()
    gc.freeze()
    try:
        return interleaved(pairs, rounds)
    finally:
        gc.unfreeze()


if __name__ == "__main__":
    main()
