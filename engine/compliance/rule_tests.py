"""The compliance officers' own test cases (``rules/tests/*.yaml``): load, run, report.

A test case is a case (facts + history) at a local date and time, a proposed step, and
the expected outcome: allowed, or blocked by (at least) the listed rules. Cases run
through the real pipeline — ledger events → ``summarise_history`` → ``CaseState`` →
``ComplianceEngine.evaluate`` — so they test what the service will do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone
from engine.compliance.calendar import zone
from engine.compliance.engine import ComplianceEngine
from engine.compliance.errors import RuleIssue, RulesError
from engine.compliance.jurisdictions import country_of, is_subdivision
from engine.compliance.model import RuleTestCase, RuleTestFile, StepSpec
from engine.compliance.yaml_source import Located, YamlSyntaxError, load_located, validate_located
from engine.history import summarise_history
from engine.state import (
    CaseFlags,
    CaseSnapshot,
    CaseState,
    ConsentStatus,
    DebtorProfile,
    EventKind,
    LedgerEvent,
    Product,
)

UNKNOWN_ZONE = "unknown"


@dataclass(frozen=True, slots=True)
class LoadedTests:
    path: Path
    located: Located
    tests: RuleTestFile


@dataclass(frozen=True, slots=True)
class RuleTestOutcome:
    """The result of one test case."""

    file: Path
    line: int
    country: str
    name: str
    passed: bool
    problems: tuple[str, ...] = ()
    """What differed from the expectation (empty when passed)."""
    hit_ids: tuple[str, ...] = ()
    """Rule ids that blocked the step (over all matching catalogue entries)."""
    expected_rules: tuple[str, ...] = field(default=())


def rule_test_files(tests_dir: Path) -> list[Path]:
    return sorted(p for p in tests_dir.glob("*.yaml") if p.is_file())


def load_rule_tests(tests_dir: Path, texts: dict[Path, str] | None = None) -> list[LoadedTests]:
    """Parse and validate every test file; raises :class:`RulesError` listing all problems."""
    files = sorted(texts) if texts is not None else rule_test_files(tests_dir)
    loaded: list[LoadedTests] = []
    issues: list[RuleIssue] = []
    for path in files:
        try:
            located = load_located(path, texts[path] if texts is not None else None)
        except YamlSyntaxError as exc:
            issues.append(exc.issue)
            continue
        parsed, problems = validate_located(located, RuleTestFile)
        issues.extend(problems)
        if parsed is not None:
            loaded.append(LoadedTests(path, located, parsed))
    if issues:
        raise RulesError(issues)
    return loaded


def step_indices(step: str | StepSpec) -> list[int]:
    """Catalogue entries a test step designates (a label, or the dimensions to match)."""
    if isinstance(step, str):
        matches = [i for i, t in enumerate(CATALOGUE.treatments) if t.label == step]
        if not matches:
            raise ValueError(
                f"step {step!r} is not a catalogue label; write e.g. "
                "AGENT_CALL/PHONE/NEUTRAL/MIDDAY or REMINDER/LETTER/FIRM/POST"
            )
        return matches
    query: dict[str, object] = {}
    if step.action is not None:
        query["action"] = Action[step.action.value]
    if step.channel is not None:
        query["channel"] = Channel[step.channel.value]
    if step.tone is not None:
        query["tone"] = Tone[step.tone.value]
    if step.offer is not None:
        query["offer"] = Offer[step.offer.value]
    if step.slot is not None:
        query["slot"] = Slot[step.slot.value]
    indices = [int(i) for i in CATALOGUE.find(**query) if i != CATALOGUE.WAIT_INDEX]
    if not indices:
        raise ValueError(f"no catalogue entry matches step {step.model_dump(exclude_none=True)}")
    return indices


def build_state(engine: ComplianceEngine, country: str, case: RuleTestCase) -> CaseState:
    """The :class:`CaseState` a test case describes, built through the real ledger fold."""
    zones = engine.timezones(country)
    timezone = None if case.timezone == UNKNOWN_ZONE else (case.timezone or zones[0])
    tz = zone(timezone or zones[0])
    local_at = datetime.fromisoformat(case.at)
    if local_at.tzinfo is not None:
        raise ValueError("`at` is a local time: write it without an offset")
    as_of = local_at.replace(tzinfo=tz).astimezone(UTC)
    local_day = local_at.date()
    facts = case.case
    snapshot = CaseSnapshot(
        case_id="rule-test",
        debtor_id="rule-test",
        country=country_of(country),
        subdivision=country if is_subdivision(country) else None,
        timezone=timezone,
        currency="XXX",
        outstanding_minor=facts.outstanding_minor,
        original_minor=facts.original_minor,
        days_past_due=facts.days_past_due,
        product=Product[facts.product],
        debtor=DebtorProfile(has_app=facts.has_app),
        consents={Channel[ch.value]: ConsentStatus[s] for ch, s in facts.consents.items()},
        flags=CaseFlags(**facts.flags.model_dump()),
    )
    events = list(_events(case, local_day, tz))
    history = summarise_history(events, as_of=local_day, tz=tz)
    return CaseState(snapshot=snapshot, history=history, as_of=as_of, local_date=local_day)


def _events(case: RuleTestCase, local_day: date, tz: object) -> list[LedgerEvent]:
    """The ledger events a test case's history describes: each event with its own decision
    id (as tact's contacts carry), or none for contacts placed outside tact (``external``),
    whose outcome then names the attempt by ``attempt_event_id``."""
    out: list[LedgerEvent] = []
    n = 0
    for event in case.history:
        hour, minute = (int(x) for x in event.time.split(":"))
        day = local_day - timedelta(days=event.days_ago)
        for _ in range(event.count):
            n += 1
            at = datetime.combine(day, time(hour, minute), tz).astimezone(UTC)  # type: ignore[arg-type]
            channel = Channel[event.channel.value] if event.channel else Channel.NONE
            action = Action[event.action.value] if event.action else None
            if action is None and channel is Channel.PHONE:
                action = Action.AGENT_CALL
            decision_id = "" if event.external else f"d{n}"
            out.append(
                LedgerEvent(
                    event_id=f"e{n}",
                    case_id="rule-test",
                    kind=EventKind[event.kind],
                    occurred_at=at,
                    channel=channel,
                    action=action,
                    until=event.until,
                    decision_id=decision_id,
                )
            )
            if event.not_connected:
                out.append(
                    LedgerEvent(
                        event_id=f"e{n}-nc",
                        case_id="rule-test",
                        kind=EventKind.CALL_NOT_CONNECTED,
                        occurred_at=at,
                        channel=channel,
                        decision_id=decision_id,
                        attempt_event_id=f"e{n}" if event.external else "",
                    )
                )
    return out


def run_case(
    engine: ComplianceEngine, country: str, case: RuleTestCase
) -> tuple[bool, list[str], list[str]]:
    """(passed, problems, blocking rule ids) for one test case."""
    problems: list[str] = []
    if country not in engine.countries:
        return False, [f"no rule file for country {country}"], []
    state = build_state(engine, country, case)
    verdict = engine.evaluate(state)
    indices = step_indices(case.step)
    allowed = np.asarray(verdict.mask)[indices]
    hit_ids: list[str] = []
    for i in indices:
        for hit in verdict.hits_for(i):
            if hit.rule_id not in hit_ids:
                hit_ids.append(hit.rule_id)
    if case.expect == "allowed" and not allowed.all():
        blocked = [CATALOGUE[i].label for i, ok in zip(indices, allowed, strict=True) if not ok]
        problems.append(
            f"expected allowed, but {len(blocked)} of {len(indices)} blocked "
            f"(e.g. {blocked[0]}) by {', '.join(hit_ids) or '?'}"
        )
    if case.expect == "blocked":
        if allowed.any():
            free = [CATALOGUE[i].label for i, ok in zip(indices, allowed, strict=True) if ok]
            problems.append(
                f"expected blocked, but {len(free)} of {len(indices)} allowed (e.g. {free[0]})"
            )
        for rule_id in case.rules:
            per_entry = [any(h.rule_id == rule_id for h in verdict.hits_for(i)) for i in indices]
            if not all(per_entry):
                problems.append(
                    f"expected rule {rule_id} among the reasons; got {', '.join(hit_ids) or 'none'}"
                )
    shaping = {h.rule_id for h in verdict.shaping_hits}
    for rule_id in case.shaping:
        if rule_id not in shaping:
            problems.append(
                f"expected rule {rule_id} to shape the verdict; got {', '.join(sorted(shaping))}"
            )
    if case.window is not None and allowed.all():
        tz = zone(state.snapshot.timezone or engine.timezones(country)[0])
        for i in indices:
            window = verdict.window_utc(i)
            text = (
                f"{window[0].astimezone(tz):%H:%M}-{_end_text(window[1].astimezone(tz))}"
                if window
                else "none"
            )
            if text != case.window:
                problems.append(
                    f"expected window {case.window} for {CATALOGUE[i].label}, got {text}"
                )
                break
    if case.hold is not None and verdict.hold != case.hold:
        problems.append(f"expected hold={case.hold}, got {verdict.hold}")
    if case.human_only is not None and verdict.human_only != case.human_only:
        problems.append(f"expected human_only={case.human_only}, got {verdict.human_only}")
    return not problems, problems, hit_ids


def _end_text(end: datetime) -> str:
    # A window ending at local midnight reads 24:00, as officers write it.
    return "24:00" if (end.hour, end.minute) == (0, 0) else f"{end:%H:%M}"


def run_rule_tests(
    engine: ComplianceEngine, tests_dir: Path | None = None, loaded: list[LoadedTests] | None = None
) -> list[RuleTestOutcome]:
    """Run every test case of ``tests_dir`` (default ``<rules>/tests``) against ``engine``."""
    if loaded is None:
        loaded = load_rule_tests(tests_dir or engine.rules_dir / "tests")
    outcomes: list[RuleTestOutcome] = []
    for item in loaded:
        for k, case in enumerate(item.tests.cases):
            line = item.located.mark_of(("cases", k))[0]
            try:
                passed, problems, hits = run_case(engine, item.tests.country, case)
            except (ValueError, KeyError) as exc:
                passed, problems, hits = False, [f"cannot run: {exc}"], []
            outcomes.append(
                RuleTestOutcome(
                    file=item.path,
                    line=line,
                    country=item.tests.country,
                    name=case.name,
                    passed=passed,
                    problems=tuple(problems),
                    hit_ids=tuple(hits),
                    expected_rules=tuple(case.rules),
                )
            )
    return outcomes


def failures_as_issues(outcomes: list[RuleTestOutcome]) -> list[RuleIssue]:
    """Failed test cases as located issues (for a rejected reload)."""
    return [
        RuleIssue(
            o.file,
            o.line,
            1,
            "",
            f"test case {o.name!r} ({o.country}) failed: {'; '.join(o.problems)}",
            "fix the rule or the test case; run `tact rules test` to see all results",
        )
        for o in outcomes
        if not o.passed
    ]
