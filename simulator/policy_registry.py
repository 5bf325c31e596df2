"""Policy names the simulator's commands accept.

Every name of :func:`policies.registry.load_policy` (``ladder``, ``random``,
``segmented``, ``default``, ``rl:<name>``), plus ``segmented-probe``, the simulator's own
direction probe (:mod:`simulator.probe_policy`).
"""

from __future__ import annotations

from policies.base import Policy

PROBE = "segmented-probe"


def policy_names() -> list[str]:
    from policies.registry import available_policies

    return [*available_policies(), PROBE]


def resolve_policy(name: str) -> Policy:
    """The policy called ``name``; raises ``policies`` ' PolicyLoadError with the choices."""
    if name.strip() == PROBE:
        from simulator.probe_policy import SegmentedProbePolicy

        return SegmentedProbePolicy()
    from policies.registry import load_policy

    return load_policy(name)
