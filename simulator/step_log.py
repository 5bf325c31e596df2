"""The record of every simulated decision, in a form an independent audit can re-check.

Per decision: the debtor, its local date and time zone, the treatment the policy asked for
and the one executed (a blocked request is executed as WAIT: the shield fails closed). For
every executed contact (anything but WAIT, which is always allowed) the log also keeps
the complete :class:`engine.state.CaseBatch` row the mask was computed from, so that
:mod:`simulator.audit` can rebuild the :class:`engine.state.CaseState` and ask the rules
again through the ``durable_rules`` path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from engine.state import CaseBatch
from simulator.errors import AuditLogError

_DECISION_COLUMNS = ("serial", "local_day", "zone", "requested", "chosen")


@dataclass(slots=True)
class StepLog:
    """Columnar decision log. ``contact_*`` and ``facts`` describe executed contacts."""

    zones: tuple[str, ...]
    decision_hour: int
    _decisions: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    _contacts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    _facts: list[CaseBatch] = field(default_factory=list)

    def append(
        self,
        serial: np.ndarray,
        local_day: np.ndarray,
        zone: np.ndarray,
        requested: np.ndarray,
        chosen: np.ndarray,
        batch: CaseBatch,
        rows: np.ndarray,
    ) -> None:
        """Log the decisions of ``rows`` (indices into ``batch`` and the other arrays' rows)."""
        cols = (serial[rows], local_day[rows], zone[rows], requested[rows], chosen[rows])
        self._decisions.append(tuple(c.copy() for c in cols))
        contact = rows[chosen[rows] != 0]
        if contact.size:
            self._contacts.append(
                (serial[contact], local_day[contact], zone[contact], chosen[contact].copy())
            )
            self._facts.append(batch.take(contact))

    # -- read access ---------------------------------------------------------------------

    def decisions(self) -> dict[str, np.ndarray]:
        """All decisions as columns: serial, local_day, zone, requested, chosen."""
        return _stack(self._decisions, _DECISION_COLUMNS)

    def contacts(self) -> tuple[dict[str, np.ndarray], CaseBatch | None]:
        """Executed contacts (serial, local_day, zone, chosen) and their case facts."""
        cols = _stack(self._contacts, ("serial", "local_day", "zone", "chosen"))
        if not self._facts:
            return cols, None
        return cols, CaseBatch.concat(self._facts)

    @property
    def n_decisions(self) -> int:
        return sum(len(d[0]) for d in self._decisions)

    @property
    def n_contacts(self) -> int:
        return sum(len(c[0]) for c in self._contacts)

    @property
    def blocked_requests(self) -> int:
        """Requests the shield replaced by WAIT (the policy asked for a blocked step)."""
        return int(sum(int((d[3] != d[4]).sum()) for d in self._decisions))

    def replace_contacts(self, cols: dict[str, np.ndarray], facts: CaseBatch) -> None:
        """Overwrite the executed-contact table (used to build audit test cases)."""
        self._contacts = [tuple(cols[k] for k in ("serial", "local_day", "zone", "chosen"))]
        self._facts = [facts]

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        decisions = self.decisions()
        cols, facts = self.contacts()
        arrays = {f"decision.{k}": v for k, v in decisions.items()}
        arrays |= {f"contact.{k}": v for k, v in cols.items()}
        if facts is not None:
            arrays |= {f"facts.{f.name}": getattr(facts, f.name) for f in fields(CaseBatch)}
        arrays["zones"] = np.array(self.zones)
        arrays["decision_hour"] = np.array(self.decision_hour)
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> StepLog:
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise AuditLogError(f"cannot read step log {path}: {exc}") from exc
        missing = [k for k in ("zones", "decision_hour") if k not in data]
        if missing:
            raise AuditLogError(f"{path} is not a simulator step log (missing {missing})")
        log = cls(
            zones=tuple(str(z) for z in data["zones"]), decision_hour=int(data["decision_hour"])
        )
        log._decisions = [tuple(data[f"decision.{k}"] for k in _DECISION_COLUMNS)]
        contact_keys = ("serial", "local_day", "zone", "chosen")
        log._contacts = [tuple(data[f"contact.{k}"] for k in contact_keys)]
        names = [f.name for f in fields(CaseBatch)]
        if f"facts.{names[0]}" in data:
            absent = [n for n in names if f"facts.{n}" not in data]
            if absent:
                raise AuditLogError(
                    f"{path} was written with another CaseBatch schema (missing {absent}); "
                    "re-run the simulation to produce a log for this version"
                )
            log._facts = [CaseBatch(**{n: data[f"facts.{n}"] for n in names})]
        return log


def _stack(chunks: list[tuple[np.ndarray, ...]], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not chunks:
        return {n: np.zeros(0, dtype=np.int64) for n in names}
    return {n: np.concatenate([c[i] for c in chunks]) for i, n in enumerate(names)}
