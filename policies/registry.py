"""The small loading interface the service and the CLIs use to get a policy by name.

Names: ``ladder``, ``segmented``, ``random``, ``default`` (what the service serves unless
told otherwise: :data:`DEFAULT_POLICY`),
``rl:<name or path>`` for a trained model under ``policies/models/``, ``simple:<spec>`` for
a member of the simple-strategy family (``policies/simple.py`` gives the grammar), and
``best-simple`` / ``best-simple:<scenario>`` for the family's best member as found by
``tact search-simple`` (``policies/models/best-simple/<scenario>.json``).

``daily-calls`` is deliberately harmful (``policies/daily_calls.py``): a challenger for
rehearsing guardrails, which :func:`load_champion` refuses to serve as the champion.
"""

from __future__ import annotations

import importlib

from engine.errors import PolicyLoadError
from policies.base import Policy

# name → (module, class); modules are imported on demand so that serving a baseline does
# not import torch.
_BASELINES: dict[str, tuple[str, str]] = {
    "ladder": ("policies.ladder", "LadderPolicy"),
    "segmented": ("policies.segmented", "SegmentedPolicy"),
    "random": ("policies.random_policy", "RandomPolicy"),
    "daily-calls": ("policies.daily_calls", "DailyCallsPolicy"),
}
DEFAULT_POLICY = "best-simple"
"""What ``default`` resolves to: the champion. A policy is served by default only when it
beats the champion on the bars of docs/policies.md (net value, and complaints and churn not
above the champion's). The shipped RL model, ``rl:default``, earns more net value than the
champion but complains more (docs/policies.md, "Results"), so it ships as the challenger
to run beside it (``TACT_CHALLENGER_POLICY=rl:default``), not as the default."""


def available_policies() -> list[str]:
    return [
        *sorted(_BASELINES),
        "default",
        "rl:<name>",
        "simple:<spec>",
        "best-simple[:<scenario>]",
    ]


def load_policy(spec: str) -> Policy:
    """Return the policy named ``spec``; raises PolicyLoadError with the allowed names."""
    name = spec.strip()
    if name == "default":
        name = DEFAULT_POLICY
    if name.startswith("rl:"):
        from policies.artifacts import load_rl_policy  # torch-free numpy runtime

        return load_rl_policy(name.removeprefix("rl:"))
    if name.startswith("simple:"):
        from policies.simple import SimplePolicy, SimpleStrategy

        return SimplePolicy(SimpleStrategy.parse(name))
    if name == "best-simple" or name.startswith("best-simple:"):
        from policies.best_simple import load_best_simple

        return load_best_simple(name)
    if name not in _BASELINES:
        raise PolicyLoadError(
            f"unknown policy {spec!r}; choose one of {', '.join(available_policies())}"
        )
    module_name, class_name = _BASELINES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise PolicyLoadError(f"policy {name!r} is not available in this build: {exc}") from exc
    policy: Policy = getattr(module, class_name)()
    return policy


def check_champion(spec: str, policy: Policy) -> Policy:
    """``policy`` (loaded from ``spec``), unless it is rehearsal-only: built to be harmful."""
    if getattr(policy, "rehearsal_only", False):
        raise PolicyLoadError(
            f"{spec!r} is deliberately harmful (for rehearsing guardrails): it may be a "
            "challenger, never the champion"
        )
    return policy


def load_champion(spec: str) -> Policy:
    """:func:`load_policy` for the champion: a rehearsal-only policy is refused."""
    return check_champion(spec, load_policy(spec))
