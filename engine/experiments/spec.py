"""The experiment file: its schema (pydantic) and a reader that locates every problem.

An experiment names the champion, challengers with traffic shares, shadow policies, the
exploration setting and the guardrails (docs/experiments.md shows a full file)::

    id: ppo-vs-segmented
    champion: segmented
    challengers:
      - {name: ppo, policy: default, share: 0.10}
    shadows:
      - {name: simple, policy: best-simple}
    exploration: {kind: epsilon, epsilon: 0.05}
    case_exploration:
      share: 0.3
      policies: [best-simple, ladder, {policy: "rl:default", share: 0.2}]
    guardrails:
      complaint_rate: {max_excess: 0.01}
      payment_rate: {max_shortfall: 0.05}

The version of an experiment is the hash of its text: every edit is a new version, and
every stored decision names the version it was made under.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.experiments.errors import ExperimentFileError, ExperimentIssue

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CHAMPION_ARM = "champion"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChallengerSpec(_Strict):
    name: str = Field(pattern=_ID.pattern, description="Arm name, unique in the file.")
    policy: str = Field(min_length=1, description="Policy spec, as TACT_POLICY.")
    share: float = Field(gt=0.0, le=1.0, description="Share of debtors given to this arm.")


class ShadowSpec(_Strict):
    name: str = Field(pattern=_ID.pattern)
    policy: str = Field(min_length=1)


class ExplorationSpec(_Strict):
    kind: Literal["none", "epsilon", "softmax"] = "none"
    epsilon: float = Field(0.0, ge=0.0, le=1.0, description="ε: share drawn uniformly.")
    temperature: float = Field(1.0, gt=0.0, description="Softmax temperature.")

    def label(self) -> str:
        if self.kind == "epsilon":
            return f"epsilon:{self.epsilon:g}"
        if self.kind == "softmax":
            return f"softmax:{self.temperature:g}"
        return "none"


class PoolPolicySpec(_Strict):
    policy: str = Field(min_length=1, description="Policy spec, as TACT_POLICY.")
    share: float | None = Field(
        None, gt=0.0, lt=1.0, description="Share of all cases it runs (default: an even split)."
    )


class CaseExplorationSpec(_Strict):
    """Exploration at the case level: a case is run, for its whole life, by one policy of
    the pool with probability ``share`` (each pool policy its own share), else by its arm's
    policy. The off-policy estimate of a whole-case policy needs exactly this (per-decision
    exploration gives a ~65-decision case a weight of about 0)."""

    share: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="Share of each arm's cases run by the pool (default: the pool's shares' sum).",
    )
    policies: tuple[PoolPolicySpec, ...] = Field(min_length=1)

    @field_validator("policies", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"policy": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _shares(self) -> CaseExplorationSpec:
        specs = [p.policy.strip() for p in self.policies]
        dup = sorted({s for s in specs if specs.count(s) > 1})
        if dup:
            raise ValueError(f"a policy may be in the pool once: {dup} repeated; remove one")
        if "random" in specs:
            raise ValueError(
                "'random' cannot be in the pool: the estimator recomputes each pool policy's "
                "choices, and random's depend on the batch it was drawn in; for uniform "
                "exploration use exploration: {kind: epsilon, epsilon: 1}"
            )
        given = sum(p.share for p in self.policies if p.share is not None)
        unset = sum(1 for p in self.policies if p.share is None)
        if self.share is None and unset:
            raise ValueError(
                "give case_exploration a share (of cases run by the pool), or every pool "
                "policy its own share"
            )
        total = given if self.share is None else self.share
        if total >= 1.0 - 1e-9:
            raise ValueError(
                f"pool shares add up to {total:g} >= 1; the arm's own policy must keep a share "
                "of its cases: lower them"
            )
        if unset and given >= total - 1e-9:
            raise ValueError(
                f"the pool shares given add up to {given:g}, leaving nothing of share "
                f"{total:g} for the {unset} policies without one: raise share or lower them"
            )
        if not unset and abs(given - total) > 1e-9:
            raise ValueError(
                f"the pool shares add up to {given:g}, not share {total:g}: make them agree "
                "(or leave share out)"
            )
        return self

    @property
    def total(self) -> float:
        """Share of an arm's cases that the pool runs."""
        if self.share is not None:
            return self.share
        return sum(p.share or 0.0 for p in self.policies)

    def describe(self) -> str:
        shares = ", ".join(f"{p} {q:.3g}" for p, q in self.pool_shares())
        return f"{self.total:.3g} of each arm's cases run by {shares}"

    def pool_shares(self) -> tuple[tuple[str, float], ...]:
        """(policy spec, share of all cases) per pool policy, in file order."""
        given = sum(p.share for p in self.policies if p.share is not None)
        unset = sum(1 for p in self.policies if p.share is None)
        even = (self.total - given) / unset if unset else 0.0
        return tuple(
            (p.policy.strip(), p.share if p.share is not None else even) for p in self.policies
        )


class ExcessLimit(_Strict):
    max_excess: float = Field(ge=0.0, le=1.0, description="Allowed rate above the champion's.")


class ShortfallLimit(_Strict):
    max_shortfall: float = Field(ge=0.0, le=1.0, description="Allowed rate below the champion's.")


class GuardrailSpec(_Strict):
    complaint_rate: ExcessLimit | None = ExcessLimit(max_excess=0.01)
    opt_out_rate: ExcessLimit | None = ExcessLimit(max_excess=0.02)
    payment_rate: ShortfallLimit | None = ShortfallLimit(max_shortfall=0.05)
    compliance_violations: bool = Field(
        True, description="Roll back on any attempt of a blocked step (a policy contract error)."
    )
    alpha: float = Field(0.05, gt=0.0, lt=1.0, description="Error rate of each sequential test.")
    tau: float = Field(
        0.1, gt=0.0, le=1.0, description="Scale of the mSPRT's normal mixture over effects."
    )
    min_debtors: int = Field(50, ge=1, description="Debtors per arm before a test may stop.")
    check_seconds: float = Field(5.0, gt=0.0, description="How often guardrails are computed.")


class SrmSpec(_Strict):
    alpha: float = Field(0.001, gt=0.0, lt=1.0, description="Total false-alarm rate over checks.")


class ExperimentSpec(_Strict):
    id: str = Field(pattern=_ID.pattern)
    champion: str = Field(min_length=1)
    challengers: tuple[ChallengerSpec, ...] = ()
    shadows: tuple[ShadowSpec, ...] = ()
    exploration: ExplorationSpec = ExplorationSpec()
    case_exploration: CaseExplorationSpec | None = None
    guardrails: GuardrailSpec = GuardrailSpec()
    srm: SrmSpec = SrmSpec()

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        total = sum(c.share for c in self.challengers)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"challenger shares add up to {total:g} > 1; lower them (the champion gets "
                "the rest)"
            )
        names = [c.name for c in self.challengers] + [s.name for s in self.shadows]
        dup = sorted({n for n in names if names.count(n) > 1} | ({CHAMPION_ARM} & set(names)))
        if dup:
            raise ValueError(f"arm and shadow names must be unique and not 'champion': {dup}")
        if self.exploration.kind == "epsilon" and self.exploration.epsilon == 0.0:
            raise ValueError("exploration kind 'epsilon' needs epsilon > 0 (or kind: none)")
        return self

    @property
    def challenger_shares(self) -> dict[str, float]:
        return {c.name: c.share for c in self.challengers}


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _locate(root: yaml.Node | None, loc: tuple[int | str, ...]) -> tuple[int, int]:
    """(line, column), 1-based, of the node at ``loc`` (the deepest that exists)."""
    node = root
    if root is None:
        return (1, 1)
    best = (root.start_mark.line + 1, root.start_mark.column + 1)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(
                ((k, v) for k, v in node.value if getattr(k, "value", None) == str(key)), None
            )
            if found is None:
                break
            node = found[1]
            best = (found[0].start_mark.line + 1, found[0].start_mark.column + 1)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            best = (node.start_mark.line + 1, node.start_mark.column + 1)
        else:
            break
    return best


def _fix_for(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "remove this field or correct its spelling (docs/experiments.md lists the fields)"
    if kind == "missing":
        return "add this field"
    if kind.startswith("literal"):
        return "use one of the values named"
    return "correct the value as the message says"


def parse_experiment(text: str, file: Path) -> tuple[ExperimentSpec, yaml.Node | None]:
    """Parse and validate ``text`` (the content of ``file``); raises ExperimentFileError
    listing every problem with its line and column."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise ExperimentFileError(
            [ExperimentIssue(file, line, column, "", f"not valid YAML: {exc}", "fix the syntax")]
        ) from exc
    if not isinstance(data, dict):
        raise ExperimentFileError(
            [
                ExperimentIssue(
                    file, 1, 1, "", "the file must be a mapping (id:, champion:, ...)", "see docs"
                )
            ]
        )
    try:
        return ExperimentSpec.model_validate(data), root
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line, column = _locate(root, loc)
            issues.append(
                ExperimentIssue(
                    file,
                    line,
                    column,
                    ".".join(str(p) for p in loc),
                    error["msg"],
                    _fix_for(dict(error)),
                )
            )
        raise ExperimentFileError(issues) from exc


def locate_field(root: yaml.Node | None, loc: tuple[int | str, ...]) -> tuple[int, int]:
    """(line, column) of a field of a parsed file (for problems found after validation)."""
    return _locate(root, loc)


__all__ = [
    "CHAMPION_ARM",
    "CaseExplorationSpec",
    "ChallengerSpec",
    "ExperimentSpec",
    "ExplorationSpec",
    "GuardrailSpec",
    "PoolPolicySpec",
    "ShadowSpec",
    "locate_field",
    "parse_experiment",
    "version_of",
]
