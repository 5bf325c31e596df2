"""Logged decisions for off-policy evaluation: read from the ledger or a Parquet export.

A decision is usable when it was made under an experiment (the experiment tag stores the
observation and the mask the policy decided on). Its reward is what the case paid from
that decision until the case's next decision (major units: minor / 100), so a case's
rewards add up to what it paid while tact decided it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from engine.catalogue import CATALOGUE
from engine.state import EventKind

_MINOR_PER_MAJOR = 100.0


@dataclass(frozen=True, slots=True)
class LoggedDecisions:
    """Columnar; row i is one decision, rows grouped by case in time order."""

    decision_id: np.ndarray  # str
    case_id: np.ndarray  # str
    debtor_id: np.ndarray  # str
    decided_at: np.ndarray  # datetime64[us] UTC
    treatment_index: np.ndarray  # int64
    treatment_label: np.ndarray  # str
    propensity: np.ndarray  # float64, the logging probability of the served treatment
    policy_name: np.ndarray  # str
    policy_version: np.ndarray  # str
    arm: np.ndarray  # str
    ruleset_version: np.ndarray  # str
    experiment_id: np.ndarray  # str
    experiment_version: np.ndarray  # str
    exploration: np.ndarray  # str
    observation: np.ndarray  # float32 (n, N_FEATURES)
    allowed: np.ndarray  # bool (n, len(CATALOGUE))
    reward: np.ndarray  # float64, paid until the case's next decision (major units)
    case_paid: np.ndarray  # float64, everything the case paid after its first decision
    case_complaints: np.ndarray  # int64
    case_opted_out: np.ndarray  # bool
    case_runner: np.ndarray  # str, the case's runner under case exploration ("" without)
    case_propensity: np.ndarray  # float64, its case propensity (NaN without)
    case_mixture: np.ndarray  # str, JSON: the arm's mixture of runners ("" without)

    def __len__(self) -> int:
        return int(self.treatment_index.shape[0])

    def take(self, rows: np.ndarray) -> LoggedDecisions:
        return LoggedDecisions(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def case_starts(self) -> np.ndarray:
        """Row where each case begins (rows are grouped by case)."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        change = np.flatnonzero(self.case_id[1:] != self.case_id[:-1]) + 1
        return np.concatenate([[0], change]).astype(np.int64)


_SCALARS = (
    "decision_id",
    "case_id",
    "debtor_id",
    "treatment_label",
    "policy_name",
    "policy_version",
    "arm",
    "ruleset_version",
    "experiment_id",
    "experiment_version",
    "exploration",
    "case_runner",
    "case_mixture",
)


def read_ledger(url: str, *, experiment_id: str | None = None) -> LoggedDecisions:
    """Every decision tagged by an experiment (or by ``experiment_id``), with rewards."""
    from engine.ledger.db import create_ledger_engine
    from engine.ledger.experiment_models import ExperimentDecisionRow
    from engine.ledger.models import LEDGER_METADATA, DecisionRow, LedgerEventRow

    d = LEDGER_METADATA.tables[DecisionRow.__tablename__]
    ed = LEDGER_METADATA.tables[ExperimentDecisionRow.__tablename__]
    ev = LEDGER_METADATA.tables[LedgerEventRow.__tablename__]
    query = (
        sa.select(
            d.c.decision_id,
            d.c.case_id,
            d.c.debtor_id,
            d.c.decided_at,
            d.c.treatment_index,
            d.c.treatment_label,
            d.c.propensity,
            d.c.policy_name,
            d.c.policy_version,
            d.c.policy_arm,
            d.c.ruleset_version,
            ed.c.experiment_id,
            ed.c.version,
            ed.c.exploration,
            ed.c.observation,
            ed.c.allowed,
            ed.c.case_runner,
            ed.c.case_mixture,
            ed.c.case_propensity,
        )
        .join(ed, ed.c.decision_id == d.c.decision_id)
        .order_by(d.c.case_id, d.c.decided_at, d.c.decision_id)
    )
    if experiment_id:
        query = query.where(ed.c.experiment_id == experiment_id)
    kinds = (int(EventKind.PAYMENT), int(EventKind.COMPLAINT), int(EventKind.OPT_OUT))
    events = sa.select(ev.c.case_id, ev.c.kind, ev.c.occurred_at, ev.c.amount_minor).where(
        ev.c.kind.in_(kinds), ev.c.source == "caller"
    )
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).all()
            outcome_rows = connection.execute(events).all()
    finally:
        engine.dispose()

    def instant(value: Any) -> np.datetime64:
        return np.datetime64(value.replace(tzinfo=None), "us")

    n = len(rows)
    columns: dict[str, Any] = {
        name: np.array([r[i] for r in rows], dtype=object).astype(str) if n else np.zeros(0, str)
        for name, i in zip(_SCALARS, (0, 1, 2, 5, 7, 8, 9, 10, 11, 12, 13), strict=False)
    }
    for name, i in (("case_runner", 16), ("case_mixture", 17)):  # NULL without case exploration
        columns[name] = np.array([r[i] or "" for r in rows], dtype=object).astype(str).reshape(n)
    decided_at = np.array([instant(r[3]) for r in rows], dtype="datetime64[us]")
    observation = np.array([json.loads(r[14]) for r in rows], dtype=np.float32).reshape(n, -1)
    allowed = np.zeros((n, len(CATALOGUE)), dtype=bool)
    for i, r in enumerate(rows):
        allowed[i, json.loads(r[15])] = True
    by_case: dict[str, list[tuple[np.datetime64, int, int]]] = {}
    for case_id, kind, occurred_at, amount in outcome_rows:
        by_case.setdefault(case_id, []).append((instant(occurred_at), int(kind), int(amount)))
    reward, case_paid, complaints, opted = _rewards(columns["case_id"], decided_at, by_case)
    return LoggedDecisions(
        **columns,
        decided_at=decided_at,
        treatment_index=np.array([r[4] for r in rows], dtype=np.int64),
        propensity=np.array([r[6] for r in rows], dtype=np.float64),
        observation=observation,
        allowed=allowed,
        reward=reward,
        case_paid=case_paid,
        case_complaints=complaints,
        case_opted_out=opted,
        case_propensity=np.array(
            [np.nan if r[18] is None else r[18] for r in rows], dtype=np.float64
        ),
    )


def _rewards(
    case_id: np.ndarray,
    decided_at: np.ndarray,
    events: dict[str, list[tuple[np.datetime64, int, int]]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(case_id)
    reward = np.zeros(n)
    case_paid = np.zeros(n)
    complaints = np.zeros(n, dtype=np.int64)
    opted = np.zeros(n, dtype=bool)
    start = 0
    while start < n:
        end = start
        while end < n and case_id[end] == case_id[start]:
            end += 1
        times = decided_at[start:end]
        first = times[0]
        paid = 0.0
        for at, kind, amount in events.get(str(case_id[start]), ()):
            if at < first:
                continue
            if kind == int(EventKind.PAYMENT):
                step = int(np.searchsorted(times, at, side="right")) - 1
                reward[start + step] += amount / _MINOR_PER_MAJOR
                paid += amount / _MINOR_PER_MAJOR
            elif kind == int(EventKind.COMPLAINT):
                complaints[start:end] += 1
            else:
                opted[start:end] = True
        case_paid[start:end] = paid
        start = end
    return reward, case_paid, complaints, opted


def write_parquet(logged: LoggedDecisions, path: Path) -> Path:
    """One row per decision: inputs (observation, allowed indices), propensity, policy and
    ruleset versions, experiment tag (with the case runner, case propensity and mixture
    under case exploration), reward and the case's joined outcomes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data: dict[str, Any] = {name: logged.__getattribute__(name).tolist() for name in _SCALARS}
    data["decided_at"] = pa.array(
        logged.decided_at.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")
    )
    for name in (
        "treatment_index",
        "propensity",
        "reward",
        "case_paid",
        "case_complaints",
        "case_propensity",
    ):
        data[name] = getattr(logged, name)
    data["case_opted_out"] = logged.case_opted_out
    data["observation"] = pa.array(list(logged.observation), pa.list_(pa.float32()))
    data["allowed"] = pa.array(
        [np.flatnonzero(row).astype(np.int16) for row in logged.allowed], pa.list_(pa.int16())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data), path)
    return path


def read_parquet(path: Path) -> LoggedDecisions:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    n = table.num_rows
    # Exports written before case exploration (migration 0006) lack its columns.
    columns = {
        name: np.array(table.column(name).to_pylist(), dtype=str)
        if name in table.column_names
        else np.full(n, "")
        for name in _SCALARS
    }
    case_propensity = (
        table.column("case_propensity").to_numpy().astype(np.float64)
        if "case_propensity" in table.column_names
        else np.full(n, np.nan)
    )
    allowed = np.zeros((n, len(CATALOGUE)), dtype=bool)
    for i, indices in enumerate(table.column("allowed").to_pylist()):
        allowed[i, indices] = True
    stamps = table.column("decided_at").cast("int64").to_numpy()
    return LoggedDecisions(
        **columns,
        decided_at=stamps.astype("datetime64[us]"),
        treatment_index=table.column("treatment_index").to_numpy().astype(np.int64),
        propensity=table.column("propensity").to_numpy().astype(np.float64),
        observation=np.array(table.column("observation").to_pylist(), dtype=np.float32).reshape(
            n, -1
        ),
        allowed=allowed,
        reward=table.column("reward").to_numpy().astype(np.float64),
        case_paid=table.column("case_paid").to_numpy().astype(np.float64),
        case_complaints=table.column("case_complaints").to_numpy().astype(np.int64),
        case_opted_out=table.column("case_opted_out").to_numpy().astype(bool),
        case_propensity=case_propensity,
    )


def load_logged(source: str, *, experiment_id: str | None = None) -> LoggedDecisions:
    """``source``: a database URL (``sqlite:///…``, ``postgresql+psycopg://…``) or the path
    of a ``tact ledger export`` Parquet file."""
    if "://" in source:
        return read_ledger(source, experiment_id=experiment_id)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(
            f"{source}: neither a database URL (sqlite:///path/tact.db) nor an existing "
            "Parquet export (tact ledger export --out FILE)"
        )
    logged = read_parquet(path)
    if experiment_id:
        logged = logged.take(np.flatnonzero(logged.experiment_id == experiment_id))
    return logged


__all__ = ["LoggedDecisions", "load_logged", "read_ledger", "read_parquet", "write_parquet"]
