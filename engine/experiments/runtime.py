"""One loaded experiment version: its policies, arms, sticky assignment, case runners and
shadows."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from engine.errors import PolicyLoadError
from engine.experiments.case_exploration import CaseMixture, MixtureComponent, case_bucket
from engine.experiments.errors import ExperimentFileError, ExperimentIssue
from engine.experiments.exploration import ExploringPolicy
from engine.experiments.spec import CHAMPION_ARM, ExperimentSpec, locate_field
from engine.experiments.store import Rollback
from engine.outcomes import PolicyArm
from policies.base import Policy
from policies.registry import check_champion

PolicyLoader = Callable[[str], Policy]
log = logging.getLogger("tact.experiments")


def challenger_arm(name: str) -> str:
    """The ``policy_arm`` stored for challenger ``name``."""
    return f"challenger:{name}"


def assignment_bucket(experiment_id: str, debtor_key: str) -> float:
    """A debtor's fixed position in [0, 1) for an experiment: sticky across cases,
    versions and replicas, independent between experiments."""
    digest = hashlib.sha256(f"{experiment_id}\x00{debtor_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class Shadow:
    name: str
    spec: str
    policy: Policy


@dataclass(frozen=True, slots=True)
class CaseRunner:
    """The policy that runs a case under case exploration, and how it was drawn."""

    policy: str
    """Its spec (the arm's own policy, or one of the pool)."""
    propensity: float
    """The probability that this policy runs a case of the arm (its case propensity)."""
    mixture: CaseMixture


@dataclass(frozen=True)
class ExperimentRuntime:
    spec: ExperimentSpec
    version: str
    text: str
    file: Path
    arms: Mapping[str, PolicyArm]
    """champion first, then ``challenger:<name>`` in file order."""
    shadows: tuple[Shadow, ...]
    rollbacks: Mapping[str, Rollback] = field(default_factory=dict)
    mixtures: Mapping[str, CaseMixture] = field(default_factory=dict)
    """Per arm, under case exploration: its policy and the pool (empty without)."""
    runner_arms: Mapping[tuple[str, str], PolicyArm] = field(default_factory=dict)
    """(arm, runner spec) → the arm served by that runner (exploration-wrapped)."""

    @property
    def experiment_id(self) -> str:
        return self.spec.id

    @property
    def champion(self) -> PolicyArm:
        return self.arms[CHAMPION_ARM]

    @property
    def exploring(self) -> bool:
        return self.spec.exploration.kind != "none"

    def effective_shares(self) -> dict[str, float]:
        """Share of debtors per arm now (rolled-back challengers give theirs to the champion)."""
        shares = {
            challenger_arm(c.name): (0.0 if challenger_arm(c.name) in self.rollbacks else c.share)
            for c in self.spec.challengers
        }
        return {CHAMPION_ARM: 1.0 - sum(shares.values()), **shares}

    def arm_for(self, debtor_key: str) -> PolicyArm:
        u = assignment_bucket(self.spec.id, debtor_key)
        edge = 0.0
        for challenger in self.spec.challengers:
            edge += challenger.share
            if u < edge:
                name = challenger_arm(challenger.name)
                return self.champion if name in self.rollbacks else self.arms[name]
        return self.champion

    def case_runner(self, arm: str, case_id: str) -> CaseRunner | None:
        """Who runs ``case_id`` in ``arm`` (None without case exploration)."""
        mixture = self.mixtures.get(arm)
        if mixture is None:
            return None
        policy = mixture.runner(case_bucket(self.spec.id, case_id))
        return CaseRunner(policy, mixture.share_of(policy), mixture)

    def serving_arm(self, debtor_key: str, case_id: str) -> PolicyArm:
        """The debtor's arm, its policy replaced by the case's runner (case exploration)."""
        arm = self.arm_for(debtor_key)
        runner = self.case_runner(arm.name, case_id)
        return arm if runner is None else self.runner_arms[(arm.name, runner.policy)]

    def with_rollbacks(self, rollbacks: Mapping[str, Rollback]) -> ExperimentRuntime:
        return replace(self, rollbacks=dict(rollbacks))


def build_runtime(
    spec: ExperimentSpec,
    *,
    text: str,
    version: str,
    file: Path,
    root: yaml.Node | None,
    load: PolicyLoader,
) -> ExperimentRuntime:
    """Load every policy the file names; a policy that does not load is an issue located
    at its field. Exploration wraps every served policy, the case-exploration pool's too
    (never the shadows)."""
    issues: list[ExperimentIssue] = []

    def loaded(spec_text: str, loc: tuple[int | str, ...]) -> Policy | None:
        try:
            policy = load(spec_text)
            return check_champion(spec_text, policy) if loc == ("champion",) else policy
        except (PolicyLoadError, ValueError, FileNotFoundError) as exc:
            line, column = locate_field(root, loc)
            issues.append(
                ExperimentIssue(
                    file,
                    line,
                    column,
                    ".".join(str(p) for p in loc),
                    f"policy {spec_text!r} does not load: {exc}",
                    "name a policy as TACT_POLICY accepts (ladder, segmented, default, "
                    "rl:<model>, simple:<spec>, best-simple)",
                )
            )
            return None

    served: dict[str, Policy | None] = {CHAMPION_ARM: loaded(spec.champion, ("champion",))}
    for i, challenger in enumerate(spec.challengers):
        served[challenger_arm(challenger.name)] = loaded(
            challenger.policy, ("challengers", i, "policy")
        )
    shadow_policies = [
        (s, loaded(s.policy, ("shadows", i, "policy"))) for i, s in enumerate(spec.shadows)
    ]
    pool_shares = spec.case_exploration.pool_shares() if spec.case_exploration else ()
    pool = {
        policy_spec: loaded(policy_spec, ("case_exploration", "policies", i, "policy"))
        for i, (policy_spec, _) in enumerate(pool_shares)
    }
    if issues:
        raise ExperimentFileError(issues)
    exploration = spec.exploration

    def explored(policy: Policy | None) -> Policy:
        assert policy is not None
        if exploration.kind == "none":
            return policy
        return ExploringPolicy(
            policy,
            exploration.kind,
            epsilon=exploration.epsilon,
            temperature=exploration.temperature,
        )

    arms = {name: PolicyArm(name, explored(policy)) for name, policy in served.items()}
    shadows = tuple(Shadow(s.name, s.policy, p) for s, p in shadow_policies if p is not None)
    mixtures: dict[str, CaseMixture] = {}
    runner_arms: dict[tuple[str, str], PolicyArm] = {}
    if pool_shares:
        if exploration.kind != "none":
            log.warning(
                "case exploration with per-decision exploration (%s): valid, but a "
                "deterministic candidate follows a logged case only where none of its ~65 "
                "decisions explored (ε-greedy: about (1 - ε)^65 of the cases), so case-level "
                "estimates rest on few cases; for them, set exploration kind: none",
                exploration.label(),
            )
        components = tuple(MixtureComponent(p, q) for p, q in pool_shares)
        pool_served = {p: explored(policy) for p, policy in pool.items()}
        arm_specs = {
            CHAMPION_ARM: spec.champion.strip(),
            **{challenger_arm(c.name): c.policy.strip() for c in spec.challengers},
        }
        for name, arm_spec in arm_specs.items():
            mixtures[name] = CaseMixture(arm_spec, components)
            for runner, policy in pool_served.items():
                runner_arms[(name, runner)] = PolicyArm(name, policy)
            runner_arms[(name, arm_spec)] = arms[name]  # the arm's own, also when pooled
    return ExperimentRuntime(
        spec, version, text, file, arms, shadows, mixtures=mixtures, runner_arms=runner_arms
    )


__all__ = [
    "CaseRunner",
    "ExperimentRuntime",
    "Shadow",
    "assignment_bucket",
    "build_runtime",
    "challenger_arm",
]
