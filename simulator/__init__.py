"""Debtor-behaviour simulator and benchmark environments (gymnasium).

Importing this package registers the environments under the ``tact/`` namespace.
"""

import engine  # noqa: F401, I001 - first: pins OpenBLAS to one thread before numpy loads
from gymnasium.envs.registration import register, registry

_ENVS = {
    "tact/Collections-v0": "simulator.envs.collections:CollectionsEnv",
    "tact/CGW-v0": "simulator.cgw.env:CGWEnv",
}

for _env_id, _entry_point in _ENVS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point)
