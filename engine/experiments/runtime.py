"""One loaded experiment version: its policies, arms, sticky assignment and shadows."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from engine.errors import PolicyLoadError
from engine.experiments.errors import ExperimentFileError, ExperimentIssue
from engine.experiments.exploration import ExploringPolicy
from engine.experiments.spec import CHAMPION_ARM, ExperimentSpec, locate_field
from engine.experiments.store import Rollback
from engine.pipeline import PolicyArm
from policies.base import Policy

PolicyLoader = Callable[[str], Policy]


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
    at its field. Exploration wraps every served arm (never the shadows)."""
    issues: list[ExperimentIssue] = []

    def loaded(spec_text: str, loc: tuple[int | str, ...]) -> Policy | None:
        try:
            return load(spec_text)
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
    if issues:
        raise ExperimentFileError(issues)
    exploration = spec.exploration
    arms: dict[str, PolicyArm] = {}
    for name, policy in served.items():
        assert policy is not None
        if exploration.kind != "none":
            policy = ExploringPolicy(
                policy,
                exploration.kind,
                epsilon=exploration.epsilon,
                temperature=exploration.temperature,
            )
        arms[name] = PolicyArm(name, policy)
    shadows = tuple(Shadow(s.name, s.policy, p) for s, p in shadow_policies if p is not None)
    return ExperimentRuntime(spec, version, text, file, arms, shadows)


__all__ = [
    "ExperimentRuntime",
    "Shadow",
    "assignment_bucket",
    "build_runtime",
    "challenger_arm",
]
