"""The small loading interface the service and the CLIs use to get a policy by name.

Names: ``ladder``, ``segmented``, ``random``, ``default`` (the shipped model),
``rl:<name or path>`` for a trained model under ``policies/models/``, ``simple:<spec>`` for
a member of the simple-strategy family (``policies/simple.py`` gives the grammar), and
``best-simple`` / ``best-simple:<scenario>`` for the family's best member as found by
``tact search-simple`` (``policies/models/best-simple/<scenario>.json``).
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
}
DEFAULT_POLICY = "rl:default"
"""What ``default`` resolves to: the shipped policy (a baseline until a trained model ships)."""


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
