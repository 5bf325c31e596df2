"""Hot reload: validate + test before an atomic swap; a broken edit keeps the last good
rules serving and is reported precisely; memory stays bounded."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from compliance_factories import make_state

from engine.compliance import ReloadResult, RulesHolder, RulesUnavailableError


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_valid_edit_is_swapped_in_with_a_new_version(rules_copy: Path) -> None:
    seen: list[ReloadResult] = []
    holder = RulesHolder(rules_copy, on_reload=seen.append)
    first = holder.current
    unchanged = holder.reload()
    assert unchanged.ok and not unchanged.changed and holder.current is first
    _edit(rules_copy / "SE.yaml", "max: 3", "max: 2")
    result = holder.reload(trigger="test")
    assert result.ok and result.changed and result.tests_run > 50
    assert result.previous_version == first.version != result.version == holder.version
    state = make_state("SE", date(2024, 3, 12), engine=holder.current)
    assert holder.current.evaluate(state).ruleset_version == result.version
    assert [r.trigger for r in seen] == ["startup", "admin", "test"]
    assert holder.health().reloads_ok == 3 and holder.last_error is None


def test_broken_edit_keeps_the_last_good_rules_and_says_where(rules_copy: Path) -> None:
    holder = RulesHolder(rules_copy)
    good = holder.current
    _edit(rules_copy / "NO.yaml", "max: 5", "max: five")
    result = holder.reload()
    assert not result.ok and not result.changed
    assert holder.current is good and holder.version == good.version
    assert result.error is not None and "NO.yaml:" in result.error
    issue = result.issues[0]
    assert issue.file.name == "NO.yaml" and issue.line > 0 and issue.column > 0
    assert issue.rule_id == "NO.calls.per-week"
    health = holder.health()
    assert health.serving and not health.last_reload_ok and health.reload_failures == 1
    assert holder.last_error == result.error
    # Fixing the file recovers.
    _edit(rules_copy / "NO.yaml", "max: five", "max: 5")
    assert holder.reload().ok and holder.last_error is None


def test_edit_that_breaks_an_officer_test_is_rejected(rules_copy: Path) -> None:
    holder = RulesHolder(rules_copy)
    good = holder.version
    _edit(rules_copy / "US.yaml", "      max: 7\n", "      max: 9\n")  # valid YAML, wrong law
    result = holder.reload()
    assert not result.ok and holder.version == good
    assert any("7 calls on day 1" in i.message for i in result.issues)
    assert all(i.file.name == "US.yaml" and i.line > 0 for i in result.issues)


def test_no_valid_rules_at_startup_fails_closed(rules_copy: Path) -> None:
    (rules_copy / "DE.yaml").write_text("jurisdiction: DE\ntitle: [unclosed\n")
    holder = RulesHolder(rules_copy)
    with pytest.raises(RulesUnavailableError, match=r"DE\.yaml"):
        _ = holder.current
    assert not holder.health().serving


def test_file_watcher_reloads_after_a_change(rules_copy: Path) -> None:
    holder = RulesHolder(rules_copy, run_tests=False)
    before = holder.version
    holder.watch(interval_s=0.05)
    try:
        _edit(rules_copy / "DK.yaml", "days: 10", "days: 11")
        deadline = time.monotonic() + 10
        while holder.version == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder.version != before
        assert holder.last_result is not None and holder.last_result.trigger == "file change"
    finally:
        holder.stop()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_sighup_triggers_a_reload(rules_copy: Path) -> None:
    holder = RulesHolder(rules_copy, run_tests=False)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        holder.install_sighup()
        _edit(rules_copy / "FI.yaml", "days: 14", "days: 15")
        before = holder.version
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 10

        def reloaded() -> bool:  # the result is recorded just after the swap: wait for both
            result = holder.last_result
            return holder.version != before and result is not None and result.trigger == "SIGHUP"

        while not reloaded() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reloaded()
    finally:
        signal.signal(signal.SIGHUP, previous)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_memory_stays_bounded_across_distinct_reloads(rules_copy: Path) -> None:
    """Every reload compiles new content (a new durable_rules ruleset); the old one must be
    released. bench/bench_rules_reload.py runs the same with 200 reloads."""
    holder = RulesHolder(rules_copy, run_tests=False)
    state = make_state("US", date(2024, 3, 12), engine=holder.current)
    target = rules_copy / "US.yaml"
    original = target.read_text()
    for k in range(5):  # warm-up: allocator pools, caches
        target.write_text(original + f"\n# warm-up {k}\n")
        assert holder.reload().changed
        holder.current.evaluate(state)
    start = _rss_mb()
    for k in range(25):
        target.write_text(original + f"\n# reload {k}\n")
        assert holder.reload().changed
        for _ in range(20):
            holder.current.evaluate(state)
    growth = _rss_mb() - start
    assert growth < 15, f"RSS grew {growth:.1f} MB over 25 reloads"
