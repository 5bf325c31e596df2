"""Safe hot reload of the rule files for a running service.

On a file change (polling), SIGHUP, or an admin call, :meth:`RulesHolder.reload` reads a
consistent snapshot of the rule and test files, validates and compiles it, runs the
officers' test cases against the *new* engine, and only then swaps it in atomically (one
reference assignment under a lock). A broken edit leaves the last good engine serving
and is reported: logged, kept in ``last_error``/``health()``, counted in
``reload_failures``, and passed to the ``on_reload`` hook (metrics).

Evaluations never see a half-loaded ruleset: they run on whichever complete engine
``current`` returned. Before the first successful load there is none, and ``current``
raises :class:`RulesUnavailableError` (the service answers "no contact").

Memory stays bounded: identical content maps to the same compiled engine (content
hash), and a replaced engine's ``durable_rules`` ruleset is deleted when the last
reference to it goes (see ``durable_backend``); bench/bench_rules_reload.py measures it.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engine.compliance.compiler import rule_files
from engine.compliance.engine import DEFAULT_RULES_DIR, ComplianceEngine
from engine.compliance.errors import RuleIssue, RulesError, RulesUnavailableError
from engine.compliance.rule_tests import (
    failures_as_issues,
    load_rule_tests,
    rule_test_files,
    run_rule_tests,
)

log = logging.getLogger("tact.compliance.reload")


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What one reload attempt did."""

    ok: bool
    """True when the files are valid and their tests pass (whether or not they changed)."""
    changed: bool
    """True when a new engine was swapped in."""
    version: str | None
    """The ruleset version serving after this attempt (None if none is)."""
    previous_version: str | None
    trigger: str
    duration_s: float
    tests_run: int = 0
    issues: tuple[RuleIssue, ...] = ()
    """Every problem found (empty when ok), with file, line, column, rule id and fix."""

    @property
    def error(self) -> str | None:
        return "\n".join(str(i) for i in self.issues) if self.issues else None


@dataclass(frozen=True, slots=True)
class RulesHealth:
    """For the service's health check and metrics."""

    serving: bool
    version: str | None
    last_reload_ok: bool
    last_error: str | None
    last_reload_at: datetime | None
    reloads_ok: int
    reload_failures: int


@dataclass(slots=True)
class _Snapshot:
    rule_texts: dict[Path, str]
    test_texts: dict[Path, str]
    fingerprint: str = field(default="")


class RulesHolder:
    """Holds the serving :class:`ComplianceEngine` and replaces it safely on reload.

    Args:
        rules_dir: directory of the rule files (default: the repository's ``rules/``).
        run_tests: run ``<rules_dir>/tests/*.yaml`` before accepting new rules.
        on_reload: called after every attempt with its :class:`ReloadResult` (metrics).
        load: load immediately (a failure is recorded; ``current`` then raises).
    """

    def __init__(
        self,
        rules_dir: Path | None = None,
        *,
        run_tests: bool = True,
        on_reload: Callable[[ReloadResult], None] | None = None,
        load: bool = True,
    ) -> None:
        self.rules_dir = Path(rules_dir or DEFAULT_RULES_DIR).resolve()
        self.run_tests = run_tests
        self.on_reload = on_reload
        self._engine: ComplianceEngine | None = None
        self._fingerprint: str | None = None
        self._swap_lock = threading.Lock()
        self._reload_lock = threading.Lock()  # one reload at a time
        self.reloads_ok = 0
        self.reload_failures = 0
        self.last_error: str | None = None
        self.last_result: ReloadResult | None = None
        self.last_reload_at: datetime | None = None
        self._watch_stop = threading.Event()
        self._watcher: threading.Thread | None = None
        if load:
            self.reload(trigger="startup")

    # --- serving ----------------------------------------------------------------------------

    @property
    def current(self) -> ComplianceEngine:
        """The engine to use for one decision; raises if no valid rules were ever loaded."""
        engine = self._engine
        if engine is None:
            raise RulesUnavailableError(
                "no valid compliance rules are loaded"
                + (f": {self.last_error}" if self.last_error else "")
                + "; fix the rule files (tact rules check) and reload"
            )
        return engine

    @property
    def version(self) -> str | None:
        engine = self._engine
        return engine.version if engine else None

    def health(self) -> RulesHealth:
        return RulesHealth(
            serving=self._engine is not None,
            version=self.version,
            last_reload_ok=self.last_result.ok if self.last_result else False,
            last_error=self.last_error,
            last_reload_at=self.last_reload_at,
            reloads_ok=self.reloads_ok,
            reload_failures=self.reload_failures,
        )

    # --- reloading --------------------------------------------------------------------------

    def _read(self) -> _Snapshot:
        rule_texts = {p: p.read_text(encoding="utf-8") for p in rule_files(self.rules_dir)}
        tests_dir = self.rules_dir / "tests"
        test_texts = (
            {p: p.read_text(encoding="utf-8") for p in rule_test_files(tests_dir)}
            if self.run_tests and tests_dir.is_dir()
            else {}
        )
        digest = hashlib.sha256()
        for path, text in sorted({**rule_texts, **test_texts}.items()):
            digest.update(str(path).encode() + b"\0" + text.encode() + b"\0")
        return _Snapshot(rule_texts, test_texts, digest.hexdigest())

    def reload(self, trigger: str = "admin") -> ReloadResult:
        """Validate, compile and test the files, then swap; keep the old engine on error."""
        with self._reload_lock:
            started = time.perf_counter()
            previous = self.version
            tests_run = 0
            try:
                snap = self._read()
                if snap.fingerprint == self._fingerprint and self._engine is not None:
                    return self._finish(ReloadResult(True, False, previous, previous, trigger, 0.0))
                engine = ComplianceEngine.from_texts(self.rules_dir, snap.rule_texts)
                if self.run_tests and snap.test_texts:
                    loaded = load_rule_tests(self.rules_dir / "tests", snap.test_texts)
                    outcomes = run_rule_tests(engine, loaded=loaded)
                    tests_run = len(outcomes)
                    failed = failures_as_issues(outcomes)
                    if failed:
                        raise RulesError(failed)
            except RulesError as exc:
                issues = tuple(exc.issues)
            except OSError as exc:
                issues = (
                    RuleIssue(
                        Path(exc.filename or self.rules_dir),
                        0,
                        0,
                        "",
                        f"cannot read the rule files: {exc.strerror or exc}",
                        "check that the rules directory exists and is readable",
                    ),
                )
            else:
                issues = ()
            if issues:  # rejected: the previous engine keeps serving
                return self._finish(
                    ReloadResult(
                        False,
                        False,
                        previous,
                        previous,
                        trigger,
                        time.perf_counter() - started,
                        tests_run,
                        issues,
                    )
                )
            with self._swap_lock:
                self._engine = engine
                self._fingerprint = snap.fingerprint
            return self._finish(
                ReloadResult(
                    True,
                    engine.version != previous,
                    engine.version,
                    previous,
                    trigger,
                    time.perf_counter() - started,
                    tests_run,
                )
            )

    def _finish(self, result: ReloadResult) -> ReloadResult:
        self.last_result = result
        self.last_reload_at = datetime.now(UTC)
        if result.ok:
            self.reloads_ok += 1
            self.last_error = None
            if result.changed:
                log.info(
                    "compliance rules %s → %s (%s, %d tests, %.2fs)",
                    result.previous_version,
                    result.version,
                    result.trigger,
                    result.tests_run,
                    result.duration_s,
                )
        else:
            self.reload_failures += 1
            self.last_error = result.error
            log.error(
                "compliance rules reload rejected (%s); still serving %s:\n%s",
                result.trigger,
                result.version,
                result.error,
            )
        if self.on_reload is not None:
            try:
                self.on_reload(result)
            except Exception:  # a broken metrics hook must not break reloading
                log.exception("on_reload hook failed")
        return result

    # --- triggers ---------------------------------------------------------------------------

    def install_sighup(self) -> None:
        """Reload on SIGHUP (main thread only). The reload runs in a worker thread so the
        signal handler returns at once."""

        def handler(signum: int, frame: object) -> None:
            threading.Thread(target=self.reload, kwargs={"trigger": "SIGHUP"}, daemon=True).start()

        signal.signal(signal.SIGHUP, handler)

    def _stamp(self) -> tuple[tuple[str, int, int], ...]:
        paths = [*rule_files(self.rules_dir)]
        tests_dir = self.rules_dir / "tests"
        if tests_dir.is_dir():
            paths += rule_test_files(tests_dir)
        out = []
        for p in paths:
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out.append((str(p), st.st_mtime_ns, st.st_size))
        return tuple(sorted(out))

    def watch(self, interval_s: float = 2.0) -> None:
        """Poll the files' mtimes and sizes every ``interval_s`` and reload on a change.

        (``watchfiles`` is not a dependency; polling a dozen small files is cheap.) A
        change is acted on once it has been stable for one interval, so that an editor's
        multi-step save is read whole.
        """
        if self._watcher is not None and self._watcher.is_alive():
            return
        self._watch_stop.clear()
        # Stamped now, not in the thread: an edit right after watch() must not be missed.
        initial = self._stamp()

        def loop() -> None:
            seen = initial
            pending: tuple[tuple[str, int, int], ...] | None = None
            while not self._watch_stop.wait(interval_s):
                try:
                    now = self._stamp()
                except OSError:
                    continue
                if now != seen:
                    if now == pending:
                        seen, pending = now, None
                        self.reload(trigger="file change")
                    else:
                        pending = now
                else:
                    pending = None

        self._watcher = threading.Thread(target=loop, name="tact-rules-watch", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        """Stop the polling thread started by :meth:`watch` (no-op if none)."""
        self._watch_stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None

    stop = stop_watching
    """Release background resources (the service calls it on shutdown)."""
