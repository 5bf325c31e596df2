"""Independent compliance audit of simulated steps.

The simulator's masks come from the compliance engine's fast numpy path
(``ComplianceEngine.mask_batch``). The audit asks the rules again, one executed contact at
a time, through the ``durable_rules`` path (``ComplianceEngine.evaluate``) on a
:class:`engine.state.CaseState` rebuilt from the logged case facts — the same call the
service makes for a real case — and counts every contact the rules would have blocked.
Zero violations is a hard requirement; :func:`inject_violation` builds the negative test.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from engine.catalogue import CATALOGUE, CONTACT_CHANNELS, Channel
from engine.compliance import ComplianceVerdict
from engine.state import (
    AgeBand,
    CaseBatch,
    CaseFlags,
    CaseSnapshot,
    CaseState,
    ConsentStatus,
    DebtorProfile,
    HistorySummary,
    Product,
)
from simulator.errors import AuditLogError
from simulator.step_log import StepLog

_EPOCH = date(1970, 1, 1)
NO_CURRENCY = "XXX"
"""ISO 4217 code for "no currency": the rules never read the currency, the log omits it."""


class Verdicts(Protocol):
    """What the audit needs from the compliance engine (ComplianceEngine satisfies it)."""

    def evaluate(self, state: CaseState) -> ComplianceVerdict: ...


@dataclass(frozen=True, slots=True)
class Violation:
    """An executed contact that the rules block."""

    serial: int
    local_date: date
    country: str
    timezone: str
    treatment: str
    rule_ids: tuple[str, ...]


@dataclass(slots=True)
class AuditReport:
    decisions: int
    """Every logged decision (WAIT included)."""
    contacts_checked: int
    """Executed contacts re-evaluated through durable_rules."""
    contacts_logged: int
    waits_ok: bool
    """Every blocked request was executed as WAIT (the shield failed closed)."""
    blocked_requests: int
    violations: list[Violation] = field(default_factory=list)
    reconstruction_errors: int = 0
    """Rows whose rebuilt CaseState did not give back the logged facts (an audit bug)."""

    @property
    def n_violations(self) -> int:
        return len(self.violations)

    @property
    def passed(self) -> bool:
        return self.waits_ok and not self.violations and self.reconstruction_errors == 0


def case_state_from_row(
    facts: CaseBatch, i: int, *, local_day: int, zone: str, decision_hour: int, case_id: str
) -> CaseState:
    """The CaseState whose CaseBatch row is ``facts[i]`` on local day ``local_day``."""
    today = _EPOCH + timedelta(days=int(local_day))
    tz = ZoneInfo(zone)
    as_of = datetime.combine(today, time(decision_hour), tzinfo=tz).astimezone(UTC)
    consents = {
        Channel(int(c)): ConsentStatus(int(facts.consent[i, int(c)])) for c in CONTACT_CHANNELS
    }
    days_left = int(facts.breathing_space_days_left[i])
    snapshot = CaseSnapshot(
        case_id=case_id,
        debtor_id=case_id,
        country=str(facts.country[i]),
        timezone=zone,
        currency=NO_CURRENCY,
        outstanding_minor=int(facts.outstanding_minor[i]),
        original_minor=int(facts.original_minor[i]),
        days_past_due=int(facts.days_past_due[i]),
        product=Product(int(facts.product[i])),
        debtor=DebtorProfile(
            age_band=AgeBand(int(facts.age_band[i])),
            tenure_months=int(facts.tenure_months[i]),
            prior_on_time_ratio=float(facts.prior_on_time_ratio[i]),
            risk_score=float(facts.risk_score[i]),
            has_app=bool(facts.has_app[i]),
        ),
        consents={c: s for c, s in consents.items() if s is not ConsentStatus.UNKNOWN},
        flags=CaseFlags(
            vulnerable=bool(facts.vulnerable[i]),
            bankruptcy=bool(facts.bankruptcy[i]),
            deceased=bool(facts.deceased[i]),
            mental_health_crisis=bool(facts.mental_health_crisis[i]),
            time_barred=bool(facts.time_barred[i]),
            hardship=bool(facts.hardship[i]),
        ),
    )
    history = HistorySummary(
        contacts_by_day=facts.contacts_by_day[i].copy(),
        calls_not_connected_by_day=facts.calls_not_connected_by_day[i].copy(),
        calls_with_consent_by_day=facts.calls_with_consent_by_day[i].copy(),
        dispute_open=bool(facts.dispute[i]),
        cease_requested=bool(facts.cease_communication[i]),
        closed=bool(facts.closed[i]),
        breathing_space_until=today + timedelta(days=days_left - 1) if days_left > 0 else None,
        plan_active=bool(facts.plan_active[i]),
    )
    for name in _HISTORY_SCALARS:
        setattr(history, name, int(getattr(facts, name)[i]))
    return CaseState(snapshot=snapshot, history=history, as_of=as_of, local_date=today)


_HISTORY_SCALARS = tuple(
    f.name
    for f in fields(HistorySummary)
    if f.type in ("int", int) and f.name in {g.name for g in fields(CaseBatch)}
)
"""Integer counters and day offsets that the CaseBatch row carries one-to-one."""


def audit_log(
    log: StepLog,
    verdicts: Verdicts,
    *,
    max_contacts: int | None = None,
    rng: np.random.Generator | None = None,
) -> AuditReport:
    """Re-check the executed contacts of ``log`` through ``verdicts.evaluate``.

    ``max_contacts`` audits a uniform random sample instead of every contact (the report
    says how many were checked); ``None`` checks all of them.
    """
    decisions = log.decisions()
    requested, chosen = decisions["requested"], decisions["chosen"]
    waits_ok = bool(np.all((requested == chosen) | (chosen == CATALOGUE.WAIT_INDEX)))
    cols, facts = log.contacts()
    n_logged = int(cols["serial"].shape[0])
    report = AuditReport(
        decisions=int(requested.shape[0]),
        contacts_checked=0,
        contacts_logged=n_logged,
        waits_ok=waits_ok,
        blocked_requests=int((requested != chosen).sum()),
    )
    if n_logged == 0:
        return report
    if facts is None or len(facts) != n_logged:
        raise AuditLogError("the step log has contacts without case facts; it cannot be audited")
    rows = np.arange(n_logged)
    if max_contacts is not None and max_contacts < n_logged:
        rng = rng if rng is not None else np.random.default_rng(0)
        rows = np.sort(rng.choice(n_logged, size=max_contacts, replace=False))
    states = [_state_at(log, cols, facts, i) for i in rows.tolist()]
    faithful = _rows_equal(CaseBatch.from_states(states), facts.take(rows))
    report.reconstruction_errors = int((~faithful).sum())
    for i, state, ok in zip(rows.tolist(), states, faithful.tolist(), strict=True):
        if not ok:
            continue
        index = int(cols["chosen"][i])
        verdict = verdicts.evaluate(state)
        report.contacts_checked += 1
        if not verdict.mask[index]:
            report.violations.append(
                Violation(
                    serial=int(cols["serial"][i]),
                    local_date=state.local_date,
                    country=state.snapshot.country,
                    timezone=str(state.snapshot.timezone),
                    treatment=CATALOGUE[index].label,
                    rule_ids=tuple(h.rule_id for h in verdict.hits_for(index)),
                )
            )
    return report


def _state_at(log: StepLog, cols: dict[str, np.ndarray], facts: CaseBatch, i: int) -> CaseState:
    return case_state_from_row(
        facts,
        i,
        local_day=int(cols["local_day"][i]),
        zone=log.zones[int(cols["zone"][i])],
        decision_hour=log.decision_hour,
        case_id=f"sim-{int(cols['serial'][i]):07d}",
    )


def _rows_equal(a: CaseBatch, b: CaseBatch) -> np.ndarray:
    """Per row: every column of ``a`` equals ``b`` (the rebuilt state is faithful)."""
    same = np.ones(len(a), dtype=bool)
    for f in fields(CaseBatch):
        x, y = getattr(a, f.name), getattr(b, f.name)
        eq = x == y
        same &= eq.reshape(len(a), -1).all(axis=1) if eq.ndim > 1 else eq
    return same


def inject_violation(log: StepLog, verdicts: Verdicts, *, max_tries: int = 10_000) -> int:
    """Rewrite one logged contact into a treatment its rules block; returns the row.

    For audit tests: a correct audit must report exactly this row. Raises if no logged
    contact has any blocked treatment.
    """
    cols, facts = log.contacts()
    if facts is None:
        raise AuditLogError("the step log has no executed contacts to rewrite")
    chosen = cols["chosen"].copy()
    for i in range(min(len(facts), max_tries)):
        state = _state_at(log, cols, facts, i)
        mask = verdicts.evaluate(state).mask
        blocked = np.flatnonzero(~mask)
        if blocked.size:
            chosen[i] = blocked[0]
            log.replace_contacts({**cols, "chosen": chosen}, facts)
            return i
    raise AuditLogError("no logged contact has a blocked treatment to inject")


def main(argv: list[str] | None = None) -> int:
    """``python -m simulator.audit STEPS.npz [--sample N]``: re-check a saved step log
    against the repository's rule files; exit status 1 if anything fails."""
    import argparse

    from engine.compliance import ComplianceEngine

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("log", help="a step log written by tact simulate --save-log")
    parser.add_argument("--sample", type=int, default=None, help="audit a random sample")
    args = parser.parse_args(argv)
    report = audit_log(StepLog.load(args.log), ComplianceEngine.load(), max_contacts=args.sample)
    print(
        f"{report.decisions} decisions, {report.contacts_checked} of {report.contacts_logged} "
        f"contacts re-checked through durable_rules, {report.blocked_requests} blocked "
        f"requests run as WAIT, {report.n_violations} violations, "
        f"{report.reconstruction_errors} reconstruction errors"
    )
    for v in report.violations:
        print(
            f"  debtor {v.serial} {v.local_date} {v.country} {v.timezone}: {v.treatment} "
            f"blocked by {', '.join(v.rule_ids) or '?'}"
        )
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "AuditReport",
    "Verdicts",
    "Violation",
    "audit_log",
    "case_state_from_row",
    "inject_violation",
]
