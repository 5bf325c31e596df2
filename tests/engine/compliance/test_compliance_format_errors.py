"""Every mistake in a rule file is reported with file, line, column, rule id and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compliance import ComplianceEngine, RulesError
from engine.compliance.errors import RuleIssue


def _issues(rules_dir: Path) -> list[RuleIssue]:
    with pytest.raises(RulesError) as err:
        ComplianceEngine.load(rules_dir)
    return err.value.issues


def _write(rules_dir: Path, name: str, text: str) -> Path:
    path = rules_dir / name
    path.write_text(text)
    return path


MINIMAL_WINDOWS = """\
  - id: w
    title: windows
    citation: test
    send_window:
      channels: [EMAIL, SMS, LETTER, PHONE, PUSH]
      weekday: "08:00-20:00"
      saturday: null
      sunday: null
      holiday: null
"""


def test_located_problems_across_files_are_all_reported(rules_copy: Path) -> None:
    path = rules_copy / "SE.yaml"
    text = path.read_text()
    text = text.replace("      max: 3", "      max: three")
    text = text.replace('weekday: "08:00-20:00"', 'weekday: "20:00-08:00"', 1)
    path.write_text(text)
    no = rules_copy / "NO.yaml"
    no.write_text(
        no.read_text().replace(
            "    title: At most 1 call a day\n",
            "    title: At most 1 call a day\n    when: hardshp or days_past_due > 10\n",
        )
    )
    issues = _issues(rules_copy)
    by_file = {(i.file.name, i.rule_id): i for i in issues}
    window = by_file[("SE.yaml", "window.calls")]
    assert "ends before it starts" in window.message and "08:00-21:00" in window.fix
    limit = by_file[("SE.yaml", "SE.calls.per-week")]
    assert "max" in limit.message and limit.line > window.line
    when = by_file[("NO.yaml", "NO.calls.per-day")]
    assert "unknown fact 'hardshp'" in when.message and "hardship" in when.fix
    line = no.read_text().splitlines()[when.line - 1]
    assert line[when.column - 1 :].startswith("hardshp")
    assert all(i.line > 0 and i.column > 0 for i in issues)


def test_typo_in_an_optional_key_suggests_the_right_one(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "SE.yaml",
        "jurisdiction: SE\ntitle: t\nrules:\n"
        + MINIMAL_WINDOWS.replace(
            "    citation: test\n", "    citation: test\n    whn: hardship\n"
        ),
    )
    (issue,) = _issues(tmp_path)
    assert "whn" in issue.message and "did you mean `when`" in issue.fix
    assert (issue.line, issue.column) == (7, 5) and issue.rule_id == "w"


def test_a_misspelt_required_key_is_one_problem(tmp_path: Path) -> None:
    """Not "weekday: Field required" and "weekdays: Extra inputs…" for one typo."""
    _write(
        tmp_path,
        "SE.yaml",
        "jurisdiction: SE\ntitle: t\nrules:\n" + MINIMAL_WINDOWS.replace("weekday:", "weekdays:"),
    )
    (issue,) = _issues(tmp_path)
    assert "`weekdays` is not a field here, and `weekday` is missing" in issue.message
    assert issue.fix == "rename `weekdays` to `weekday`"
    assert (issue.line, issue.column) == (9, 7) and issue.rule_id == "w"


def test_two_effects_in_one_rule(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "SE.yaml",
        "jurisdiction: SE\ntitle: t\nrules:\n"
        + MINIMAL_WINDOWS
        + "  - id: x\n    title: t\n    citation: c\n    hold: {}\n    block: {tones: [FIRM]}\n",
    )
    (issue,) = _issues(tmp_path)
    assert issue.rule_id == "x" and "exactly one effect" in issue.message
    assert issue.line == 13


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    _write(tmp_path, "SE.yaml", "jurisdiction: SE\ntitle: [oops\nrules: []\n")
    (issue,) = _issues(tmp_path)
    assert issue.file.name == "SE.yaml" and issue.line >= 2 and "YAML" in issue.message


def test_inheritance_problems(tmp_path: Path) -> None:
    _write(
        tmp_path, "defaults.yaml", "jurisdiction: defaults\ntitle: d\nrules:\n" + MINIMAL_WINDOWS
    )
    _write(tmp_path, "SE.yaml", "jurisdiction: SE\ntitle: t\nextends: default\nrules: []\n")
    _write(tmp_path, "NO.yaml", "jurisdiction: NO\ntitle: t\nextends: defaults\ndisable: [x]\n")
    _write(tmp_path, "DK.yaml", "jurisdiction: DE\ntitle: t\nextends: defaults\n")
    issues = _issues(tmp_path)
    messages = {(i.file.name, i.message.split(",")[0]) for i in issues}
    assert ("SE.yaml", "extends 'default'") in messages
    assert any(f == "NO.yaml" and "disable lists x" in m for f, m in messages)
    assert any(f == "DK.yaml" and "declares jurisdiction DE" in m for f, m in messages)


def test_inherited_rule_replaced_by_id_and_disabled(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "defaults.yaml",
        "jurisdiction: defaults\ntitle: d\nrules:\n"
        + MINIMAL_WINDOWS
        + "  - id: hold\n    title: h\n    citation: c\n    when: dispute\n    hold: {}\n"
        + "  - id: legal\n    title: l\n    citation: c\n"
        + "    block: {actions: [LEGAL_ESCALATION]}\n",
    )
    _write(
        tmp_path,
        "SE.yaml",
        "jurisdiction: SE\ntitle: t\nextends: defaults\ndisable: [legal]\nrules:\n"
        "  - id: hold\n    title: SE hold\n    citation: SE law\n"
        "    when: hardship\n    hold: {}\n",
    )
    engine = ComplianceEngine.load(tmp_path)
    rules = engine.country_rules("SE").rules
    assert [r.id for r in rules] == ["w", "hold"]
    assert rules[1].citation == "SE law" and rules[1].file.name == "SE.yaml"


def test_every_channel_needs_a_send_window(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "SE.yaml",
        "jurisdiction: SE\ntitle: t\nrules:\n" + MINIMAL_WINDOWS.replace("LETTER, ", ""),
    )
    (issue,) = _issues(tmp_path)
    assert "no unconditional send_window for LETTER" in issue.message


def test_unknown_time_zone_and_holiday_calendar(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "XK.yaml",
        "jurisdiction: XK\ntitle: t\ntimezones: [Europe/Pristina, Mars/Base]\n"
        "holidays: {country: ZZ}\nrules:\n" + MINIMAL_WINDOWS,
    )
    messages = [i.message for i in _issues(tmp_path)]
    assert any("unknown IANA time zone 'Mars/Base'" in m for m in messages)
    assert any("holidays package does not know" in m for m in messages)


def test_country_without_a_zone_table_needs_timezones(tmp_path: Path) -> None:
    _write(tmp_path, "FR.yaml", "jurisdiction: FR\ntitle: t\nrules:\n" + MINIMAL_WINDOWS)
    messages = [i.message for i in _issues(tmp_path)]
    assert any("no time zones known for FR" in m for m in messages)
    _write(
        tmp_path,
        "FR.yaml",
        "jurisdiction: FR\ntitle: t\ntimezones: [Europe/Paris]\nrules:\n" + MINIMAL_WINDOWS,
    )
    assert ComplianceEngine.load(tmp_path).timezones("FR") == ("Europe/Paris",)
