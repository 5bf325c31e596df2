"""The decision pipeline under an experiment: arms by debtor, shadows, version tags.

:class:`ExperimentPipeline` is a :class:`engine.pipeline.DecisionPipeline` whose arms come
from the serving experiment version (pinned for a whole batch, so a reload mid-batch
cannot mix versions), assigned sticky per debtor; under case exploration a case is served
by its runner (:mod:`engine.experiments.case_exploration`), sticky per case. After the
arms decide, every shadow policy decides the same cases on the same observations and masks
(deterministically, acting on nothing); each decision is stored with its experiment tag,
in one transaction.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from engine.experiments.holder import ExperimentHolder
from engine.experiments.runtime import ExperimentRuntime
from engine.experiments.store import DecisionTag, ShadowChoice, tag_rows
from engine.ledger import CompanionRows, Ledger
from engine.outcomes import DecisionOutcome, PolicyArm, RulesSource
from engine.pipeline import DecisionPipeline
from engine.state import CaseSnapshot, LedgerEvent
from policies.base import PolicyContractError

log = logging.getLogger("tact.experiments")

_PENDING_LIMIT = 100_000
"""Tags of decided-but-not-yet-stored outcomes kept at most (dry runs are never stored)."""


def debtor_key(snapshot: CaseSnapshot) -> str:
    """The unit of assignment: the debtor, or the case when the caller named no debtor."""
    return snapshot.debtor_id or snapshot.case_id


class ExperimentPipeline(DecisionPipeline):
    def __init__(self, *, rules: RulesSource, ledger: Ledger, holder: ExperimentHolder) -> None:
        runtime = holder.current
        super().__init__(rules=rules, ledger=ledger, champion=runtime.champion.policy)
        self.holder = holder
        self.explore = runtime.exploring
        self._local = threading.local()
        self._pending: OrderedDict[str, DecisionTag] = OrderedDict()
        self._pending_lock = threading.Lock()

    def _runtime(self) -> ExperimentRuntime:
        pinned: ExperimentRuntime | None = getattr(self._local, "runtime", None)
        return pinned if pinned is not None else self.holder.current

    def arm_of(self, snapshot: CaseSnapshot) -> PolicyArm:
        """The debtor's arm, served by the case's runner under case exploration."""
        return self._runtime().serving_arm(debtor_key(snapshot), snapshot.case_id)

    def arm_named(self, name: str) -> PolicyArm:
        return self._runtime().arms[name]

    def _choose(self, arm: PolicyArm, ready: Sequence) -> list[tuple[int, float, np.ndarray]]:  # type: ignore[type-arg]
        try:
            return super()._choose(arm, ready)
        except PolicyContractError:
            self.holder.record_violation(arm.name)
            raise

    def decide_many(
        self,
        cases: Sequence[tuple[CaseSnapshot, Sequence[LedgerEvent], datetime]],
        *,
        dry_run: bool = False,
    ) -> list[DecisionOutcome | Exception]:
        runtime = self.holder.current
        self.explore = runtime.exploring
        self._local.runtime = runtime
        try:
            outcomes = super().decide_many(cases, dry_run=dry_run)
        finally:
            self._local.runtime = None
        if not dry_run:
            self._tag(runtime, [o for o in outcomes if isinstance(o, DecisionOutcome)])
        return outcomes

    def _tag(self, runtime: ExperimentRuntime, outcomes: Sequence[DecisionOutcome]) -> None:
        if not outcomes:
            return
        shadow_choices: list[list[ShadowChoice]] = [[] for _ in outcomes]
        if runtime.shadows:
            observations = np.stack([o.observation for o in outcomes])
            masks = np.stack([o.mask for o in outcomes])
            for shadow in runtime.shadows:
                try:
                    decided = shadow.policy.act(observations, masks.copy(), None)
                except Exception:  # a shadow never affects serving
                    log.exception("shadow %s failed; not recorded for this batch", shadow.name)
                    continue
                for k, outcome in enumerate(outcomes):
                    index = int(decided.indices[k])
                    shadow_choices[k].append(
                        ShadowChoice(
                            shadow.name,
                            shadow.spec,
                            shadow.policy.version,
                            index,
                            float(decided.propensities[k]),
                            index == outcome.index,
                        )
                    )
        exploration = runtime.spec.exploration.label()
        with self._pending_lock:
            for outcome, shadows in zip(outcomes, shadow_choices, strict=True):
                runner = runtime.case_runner(outcome.arm, outcome.snapshot.case_id)
                self._pending[outcome.decision_id] = DecisionTag(
                    decision_id=outcome.decision_id,
                    experiment_id=runtime.experiment_id,
                    version=runtime.version,
                    arm=outcome.arm,
                    exploration=exploration,
                    case_id=outcome.snapshot.case_id,
                    debtor_key=debtor_key(outcome.snapshot),
                    decided_at=outcome.decided_at,
                    shadows=tuple(shadows),
                    observation=tuple(float(v) for v in outcome.observation),
                    allowed=tuple(int(i) for i in np.flatnonzero(outcome.mask)),
                    case_runner=None if runner is None else runner.policy,
                    case_propensity=None if runner is None else runner.propensity,
                    case_mixture=None if runner is None else runner.mixture.to_json(),
                )
            while len(self._pending) > _PENDING_LIMIT:
                self._pending.popitem(last=False)

    def persist(
        self,
        outcomes: Sequence[tuple[DecisionOutcome, str | None]],
        *,
        companions: Sequence[CompanionRows] = (),
    ) -> list[DecisionOutcome]:
        """Store the decisions with their experiment tags in one transaction (all or none):
        no decision is stored without the version it was made under."""
        with self._pending_lock:
            tags = [
                tag
                for outcome, _ in outcomes
                if (tag := self._pending.pop(outcome.decision_id, None)) is not None
            ]
        return super().persist(outcomes, companions=[*companions, *tag_rows(tags)])


__all__ = ["ExperimentPipeline", "debtor_key"]
