"""Exploration at the case level: which policy runs a whole case, drawn once, sticky.

Per-decision exploration (:mod:`engine.experiments.exploration`) cannot value a policy
that runs a whole case: a case of ~65 decisions follows a deterministic candidate that
differs from the logger only with a probability of about (ε/k)^steps. So a share of each
arm's cases is run, from first decision to last, by a policy of a *pool*: a case's
*mixture* is its arm's own policy with probability ``1 − share`` and each pool policy with
its share. The draw ``sha256(experiment id, case id, "case-exploration")`` → ``u`` in
[0, 1) picks the runner: pool policies take consecutive intervals of their shares from 0
in file order, the arm's policy the rest. The same case gets the same runner on every
call, in every replica, under every version that keeps the shares — independent of the
debtor's arm draw, so it applies within whichever arm the debtor is in.

Every decision's experiment tag stores the runner, its case propensity (the mixture's
total share of that policy) and the mixture itself: the case-level estimator
(:mod:`policies.ope.case_importance`) weights a case by the candidate's probability of
the whole logged trajectory over the mixture's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

CASE_EXPLORATION_SALT = "case-exploration"


def case_bucket(experiment_id: str, case_id: str) -> float:
    """A case's fixed position in [0, 1) for the runner draw of ``experiment_id``."""
    key = f"{experiment_id}\x00{case_id}\x00{CASE_EXPLORATION_SALT}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class MixtureComponent:
    policy: str
    """Policy spec, as TACT_POLICY accepts."""
    share: float
    """Probability that a case of this arm is run by this policy."""


@dataclass(frozen=True, slots=True)
class CaseMixture:
    """How an arm's cases are assigned to runners."""

    arm_policy: str
    pool: tuple[MixtureComponent, ...]

    @property
    def pool_share(self) -> float:
        return sum(c.share for c in self.pool)

    def components(self) -> tuple[MixtureComponent, ...]:
        """One per distinct policy (the arm's own policy first); a policy both the arm's
        and in the pool gets both shares: the probability that it runs a case."""
        shares: dict[str, float] = {self.arm_policy: 1.0 - self.pool_share}
        for c in self.pool:
            shares[c.policy] = shares.get(c.policy, 0.0) + c.share
        return tuple(MixtureComponent(p, s) for p, s in shares.items())

    def runner(self, u: float) -> str:
        """The policy that runs a case at position ``u``."""
        edge = 0.0
        for c in self.pool:
            edge += c.share
            if u < edge:
                return c.policy
        return self.arm_policy

    def share_of(self, policy: str) -> float:
        """The case propensity of ``policy``: the probability it runs a case of this arm."""
        return sum(c.share for c in self.components() if c.policy == policy)

    def to_json(self) -> str:
        """The logged form: the components, each ``{"policy", "share"}``."""
        return components_json(self.components())


def parse_components(text: str) -> tuple[MixtureComponent, ...]:
    """The components of a logged mixture (:meth:`CaseMixture.to_json`); () for ""."""
    if not text:
        return ()
    return tuple(MixtureComponent(str(c["policy"]), float(c["share"])) for c in json.loads(text))


def components_json(components: tuple[MixtureComponent, ...]) -> str:
    return json.dumps([{"policy": c.policy, "share": c.share} for c in components])


__all__ = [
    "CaseMixture",
    "MixtureComponent",
    "case_bucket",
    "components_json",
    "parse_components",
]
