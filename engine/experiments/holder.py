"""The serving experiment: hot reload of its file, guardrail checks, shared rollbacks.

Like :class:`engine.compliance.RulesHolder`: a file change (polling), SIGHUP or an admin
call re-reads the file; a valid edit whose policies load is swapped in atomically (one
reference assignment) and stored as a new version; a broken edit keeps the last good
version serving and is reported with file:line:column issues.

The same background loop checks the guardrails every ``guardrails.check_seconds`` from the
ledger (so all replicas judge on all traffic), writes a crossing as a rollback row, and
applies every rollback row it finds (its own or another replica's).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engine.experiments.errors import ExperimentFileError, ExperimentIssue
from engine.experiments.guardrails import (
    GuardrailState,
    SrmState,
    evaluate_guardrails,
    evaluate_srm,
)
from engine.experiments.runtime import ExperimentRuntime, PolicyLoader, build_runtime
from engine.experiments.spec import parse_experiment, version_of
from engine.experiments.store import ExperimentStore, Rollback
from policies.registry import load_policy

log = logging.getLogger("tact.experiments")


@dataclass(slots=True)
class ExperimentHealth:
    """What GetExperiment / GetStatus / health report."""

    runtime: ExperimentRuntime
    last_load_ok: bool = True
    issues: tuple[ExperimentIssue, ...] = ()
    last_reload_at: datetime | None = None
    guardrails: list[GuardrailState] = field(default_factory=list)
    srm: SrmState | None = None
    debtors: dict[str, int] = field(default_factory=dict)
    """Debtors given to each arm so far (all replicas), as of the last guardrail pass."""


@dataclass(frozen=True, slots=True)
class ExperimentRead:
    """An experiment file read and built, with the file's stamp when it was read."""

    runtime: ExperimentRuntime
    stamp: tuple[int, int] | None


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def read_experiment(path: Path, *, load: PolicyLoader = load_policy) -> ExperimentRead:
    """Parse and validate the experiment file and load its policies (nothing is stored);
    raises :class:`ExperimentFileError` with every problem located. The service calls it
    before it opens the ledger, so a bad file changes no database."""
    path = Path(path).resolve()
    stamp = _file_stamp(path)  # before the read: a change after it is seen at the next poll
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentFileError(
            [ExperimentIssue(path, 0, 0, "", f"cannot read: {exc}", "check TACT_EXPERIMENT_FILE")]
        ) from exc
    spec, root = parse_experiment(text, path)
    runtime = build_runtime(
        spec, text=text, version=version_of(text), file=path, root=root, load=load
    )
    return ExperimentRead(runtime, stamp)


class ExperimentHolder:
    """Holds the serving :class:`ExperimentRuntime` (raises at start if the file is bad)."""

    def __init__(
        self,
        path: Path,
        store: ExperimentStore,
        *,
        load: PolicyLoader = load_policy,
        first: ExperimentRead | None = None,
    ) -> None:
        """``first``: the file as :func:`read_experiment` read it (else it is read here)."""
        self.path = Path(path).resolve()
        self.store = store
        self.load = load
        self._lock = threading.Lock()
        self._violations: Counter[str] = Counter()
        self._checks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stamp: tuple[int, int] | None = None
        runtime = self._read(first)  # raises ExperimentFileError: the service does not start
        self.health = ExperimentHealth(runtime, last_reload_at=datetime.now(UTC))
        self._install(runtime)

    @property
    def current(self) -> ExperimentRuntime:
        return self.health.runtime

    def _read(self, read: ExperimentRead | None = None) -> ExperimentRuntime:
        if read is None:
            # Stamped before reading, and also when the edit is broken: a later change is
            # seen, and a broken one is reported once rather than at every poll.
            self._stamp = self._file_stamp()
            return read_experiment(self.path, load=self.load).runtime
        self._stamp = read.stamp
        return read.runtime

    def _install(self, runtime: ExperimentRuntime) -> None:
        self.store.save_version(runtime.experiment_id, runtime.version, runtime.text)
        runtime = runtime.with_rollbacks(self.store.rollbacks(runtime.experiment_id))
        with self._lock:
            self.health.runtime = runtime

    def reload(self, trigger: str = "admin") -> ExperimentHealth:
        """Re-read the file; swap it in if valid, else keep serving the last good version."""
        try:
            runtime = self._read()
        except ExperimentFileError as exc:
            with self._lock:
                self.health.last_load_ok = False
                self.health.issues = tuple(exc.issues)
                self.health.last_reload_at = datetime.now(UTC)
            log.error(
                "experiment reload (%s) rejected, still serving %s: %s",
                trigger,
                self.current.version,
                exc,
            )
            return self.health
        previous = self.current.version
        self._install(runtime)
        with self._lock:
            self.health.last_load_ok = True
            self.health.issues = ()
            self.health.last_reload_at = datetime.now(UTC)
        if runtime.version != previous:
            log.info(
                "experiment %s version %s → %s (%s)",
                runtime.experiment_id,
                previous,
                runtime.version,
                trigger,
            )
        return self.health

    def as_configured(self) -> bool:
        """The last edit loaded and no challenger is rolled back (the health entry)."""
        return self.health.last_load_ok and not self.current.rollbacks

    def record_violation(self, arm: str) -> None:
        """A policy of ``arm`` tried a step the rules block (checked at the next guardrail
        pass; the case itself got no contact)."""
        with self._lock:
            self._violations[arm] += 1

    def check_guardrails(self) -> list[GuardrailState]:
        """One guardrail pass: compute (rolled-back challengers' tests too, for the
        status), roll back new crossings, apply every stored rollback."""
        runtime = self.current
        stats = self.store.arm_stats(runtime.experiment_id)
        with self._lock:
            violations = dict(self._violations)
        states = evaluate_guardrails(runtime, stats, violations, include_rolled_back=True)
        for state in states:
            if state.crossed and state.arm not in runtime.rollbacks:
                rollback = Rollback(
                    runtime.experiment_id,
                    state.arm,
                    state.guardrail,
                    state.reason(),
                    runtime.version,
                    state.arm_debtors,
                    datetime.now(UTC),
                )
                self.store.save_rollback(rollback)
                log.warning("guardrail crossed, challenger rolled back: %s", rollback.reason)
        rollbacks = self.store.rollbacks(runtime.experiment_id)
        self._checks += 1
        with self._lock:
            if self.health.runtime.version == runtime.version:
                self.health.runtime = self.health.runtime.with_rollbacks(rollbacks)
            self.health.guardrails = states
            self.health.debtors = {arm: arm_stats.debtors for arm, arm_stats in stats.items()}
            self.health.srm = evaluate_srm(runtime, stats, self._checks)
        return states

    def _file_stamp(self) -> tuple[int, int] | None:
        return _file_stamp(self.path)

    def watch(self, poll_seconds: float, *, reload_file: bool = True) -> None:
        """Poll the file (when ``reload_file``) and run guardrail passes in the background."""
        if self._thread is not None:
            return

        def loop() -> None:
            next_check = 0.0
            elapsed = 0.0
            period = min(poll_seconds, self.current.spec.guardrails.check_seconds)
            while not self._stop.wait(period):
                elapsed += period
                try:
                    if reload_file and self._file_stamp() != self._stamp:
                        self.reload(trigger="file change")
                    if elapsed >= next_check:
                        self.check_guardrails()
                        next_check = elapsed + self.current.spec.guardrails.check_seconds
                except Exception:  # the loop must survive a database hiccup
                    log.exception("experiment watch pass failed")

        self._thread = threading.Thread(target=loop, name="tact-experiment", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()


__all__ = ["ExperimentHealth", "ExperimentHolder", "ExperimentRead", "read_experiment"]
