"""Rule files → a compiled ruleset: validated, inheritance resolved, every rule lowered to
*clauses* (a condition over facts + a primitive effect, :mod:`engine.compliance.clauses`)
that both evaluation paths share.

The condition of each clause compiles to a ``durable_rules`` test and is evaluated with
numpy by the batched path; the effects are identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.catalogue import CATALOGUE, CONTACT_CHANNELS, Channel
from engine.compliance import expressions as ex
from engine.compliance.calendar import HolidayCalendar, validate_holiday_source
from engine.compliance.clauses import Clause, RuleRef, lower_rule
from engine.compliance.errors import RuleIssue, RulesError
from engine.compliance.facts import COUNTRY_FACT, PUBLIC_FACTS, CountSpec, FactContext
from engine.compliance.jurisdictions import country_of, holiday_source, is_subdivision, time_zones
from engine.compliance.model import Rule, RuleFile
from engine.compliance.notices import NoticeSpec
from engine.compliance.yaml_source import Located, YamlSyntaxError, load_located, validate_located

COMPILER_VERSION = "2"
"""Bump when the meaning of a rule file changes without its text changing."""

DEFAULTS_STEM = "defaults"


@dataclass(frozen=True, slots=True)
class CountryRules:
    code: str
    title: str
    file: Path
    zones: tuple[str, ...]
    calendar: HolidayCalendar
    rules: tuple[RuleRef, ...]
    clause_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """Everything the engine needs, derived from the rule files alone."""

    version: str
    rules_dir: Path
    files: tuple[Path, ...]
    countries: dict[str, CountryRules]
    clauses: tuple[Clause, ...]
    fact_context: FactContext
    durable_facts: tuple[str, ...]
    """Facts the durable ruleset reads (the rest need not be sent)."""
    durable_rules: dict[str, dict[str, Any]] = field(repr=False)


def rule_files(rules_dir: Path) -> list[Path]:
    """The rule files of a directory (its ``*.yaml``, not the tests)."""
    return sorted(p for p in rules_dir.glob("*.yaml") if p.is_file())


def content_version(files: Sequence[Path], texts: Sequence[str]) -> str:
    """Content hash of the rule files (+ compiler and catalogue versions)."""
    digest = hashlib.sha256()
    digest.update(f"tact-rules:{COMPILER_VERSION}:{CATALOGUE.content_hash}\n".encode())
    for path, text in sorted(zip((p.name for p in files), texts, strict=True)):
        digest.update(path.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()[:16]


def read_rules_dir(rules_dir: Path) -> tuple[list[Path], list[str]]:
    files = rule_files(rules_dir)
    return files, [p.read_text(encoding="utf-8") for p in files]


def compile_rules(rules_dir: Path, texts: dict[Path, str] | None = None) -> CompiledRules:
    """Validate and compile every rule file of ``rules_dir``; raises :class:`RulesError`
    listing every problem found, each with file, line, column, rule id and a fix."""
    rules_dir = Path(rules_dir)
    if not rules_dir.is_dir():
        raise RulesError(
            [
                RuleIssue(
                    rules_dir,
                    0,
                    0,
                    "",
                    "rules directory not found",
                    "pass the directory that holds the <CC>.yaml rule files",
                )
            ]
        )
    if texts is None:
        files, contents = read_rules_dir(rules_dir)
        texts = dict(zip(files, contents, strict=True))
    if not texts:
        raise RulesError(
            [RuleIssue(rules_dir, 0, 0, "", "no *.yaml rule files", "add e.g. US.yaml")]
        )
    return _Compiler(rules_dir, texts).run()


class _Compiler:
    def __init__(self, rules_dir: Path, texts: dict[Path, str]) -> None:
        self.rules_dir = rules_dir
        self.texts = texts
        self.issues: list[RuleIssue] = []
        self.located: dict[str, Located] = {}
        self.parsed: dict[str, RuleFile] = {}
        self.conditions: dict[tuple[str, str], ex.Expr] = {}
        self.count_specs: dict[CountSpec, None] = {}
        self.notice_specs: dict[NoticeSpec, None] = {}
        self.calendars: dict[str, HolidayCalendar] = {}

    # --- driver ---------------------------------------------------------------------------

    def run(self) -> CompiledRules:
        self._parse_files()
        self._check_files()
        self._parse_conditions()
        resolved = self._resolve_all()
        countries, clauses = self._lower(resolved)
        if self.issues:
            raise RulesError(self.issues)
        return self._assemble(countries, clauses)

    def issue(
        self, stem: str, loc: tuple[str | int, ...], rule_id: str, msg: str, fix: str
    ) -> None:
        located = self.located.get(stem)
        path = located.path if located else self.rules_dir / f"{stem}.yaml"
        line, col = located.mark_of(loc) if located else (0, 0)
        self.issues.append(RuleIssue(path, line, col, rule_id, msg, fix))

    # --- parse & validate -------------------------------------------------------------------

    def _parse_files(self) -> None:
        for path, text in sorted(self.texts.items()):
            try:
                located = load_located(path, text)
            except YamlSyntaxError as exc:
                self.issues.append(exc.issue)
                continue
            self.located[path.stem] = located
            parsed, problems = validate_located(located, RuleFile)
            self.issues.extend(problems)
            if parsed is not None:
                self.parsed[path.stem] = parsed

    def _check_files(self) -> None:
        for stem, rf in self.parsed.items():
            expected = DEFAULTS_STEM if rf.jurisdiction == "defaults" else rf.jurisdiction
            if stem != expected:
                self.issue(
                    stem,
                    ("jurisdiction",),
                    "",
                    f"file {stem}.yaml declares jurisdiction {rf.jurisdiction}",
                    f"rename the file to {expected}.yaml or correct `jurisdiction`",
                )
            seen: dict[str, int] = {}
            for i, rule in enumerate(rf.rules):
                if rule.id in seen:
                    self.issue(
                        stem,
                        ("rules", i, "id"),
                        rule.id,
                        f"rule id {rule.id} is used twice in this file "
                        f"(also rules[{seen[rule.id]}])",
                        "give each rule its own id",
                    )
                seen[rule.id] = i
            if rf.extends is not None and rf.extends not in self.texts_by_stem():
                self.issue(
                    stem,
                    ("extends",),
                    "",
                    f"extends {rf.extends!r}, but there is no {rf.extends}.yaml",
                    f"use one of: {', '.join(sorted(self.texts_by_stem()))}, or remove `extends`",
                )
            if is_subdivision(rf.jurisdiction):
                self._check_subdivision(stem, rf)
            if rf.jurisdiction != "defaults":
                self._check_zones(stem, rf)
                source = holiday_source(rf, self._country_file(rf))
                problem = validate_holiday_source(source)
                if problem is None:
                    self.calendars[stem] = HolidayCalendar(source)
                else:
                    self.issue(
                        stem,
                        ("holidays",),
                        "",
                        f"the holidays package does not know {source}: {problem}",
                        "use a supported country code, subdivision and categories "
                        "(see https://github.com/vacanza/holidays)",
                    )

    def texts_by_stem(self) -> set[str]:
        return {p.stem for p in self.texts}

    def _country_file(self, rf: RuleFile) -> RuleFile | None:
        """A subdivision's country file (parsed), None for anything else."""
        if not is_subdivision(rf.jurisdiction):
            return None
        return self.parsed.get(country_of(rf.jurisdiction))

    def _check_subdivision(self, stem: str, rf: RuleFile) -> None:
        country = country_of(rf.jurisdiction)
        if rf.extends != country:
            self.issue(
                stem,
                ("extends",) if rf.extends is not None else ("jurisdiction",),
                "",
                f"{rf.jurisdiction} is a subdivision of {country}: its file extends "
                f"{country}.yaml (found: {rf.extends or 'no extends'})",
                f"write `extends: {country}` (and add {country}.yaml if there is none)",
            )

    def _check_zones(self, stem: str, rf: RuleFile) -> None:
        zones = time_zones(rf, self._country_file(rf))
        if not zones:
            self.issue(
                stem,
                ("jurisdiction",),
                "",
                f"no time zones known for {rf.jurisdiction}",
                "add `timezones: [Area/City, ...]` (IANA names, most populous first)",
            )
        for i, name in enumerate(rf.timezones or ()):
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                self.issue(
                    stem,
                    ("timezones", i),
                    "",
                    f"unknown IANA time zone {name!r}",
                    "use a name from the IANA database, e.g. Europe/Oslo",
                )

    def _parse_conditions(self) -> None:
        # From the raw YAML, so that a file with other problems still gets its conditions
        # checked: `check` reports everything in one go.
        public = PUBLIC_FACTS.keys()
        for stem, located in self.located.items():
            raw_rules = located.data.get("rules") if isinstance(located.data, dict) else None
            if not isinstance(raw_rules, list):
                continue
            for i, raw in enumerate(raw_rules):
                if not isinstance(raw, dict) or not isinstance(raw.get("when"), str):
                    continue
                rule_id = str(raw.get("id", ""))
                try:
                    self.conditions[(stem, rule_id)] = ex.parse_condition(raw["when"], public)
                except ex.ExpressionError as err:
                    line, col = located.mark_of(("rules", i, "when"))
                    # a quoted scalar starts one column before its text
                    raw_line = self.texts[located.path].splitlines()[line - 1]
                    quoted = raw_line[col - 1 : col] in ("'", '"')
                    self.issues.append(
                        RuleIssue(
                            located.path,
                            line,
                            col + err.column - 1 + int(quoted),
                            rule_id,
                            f"when: {err}",
                            err.fix,
                        )
                    )

    # --- inheritance ------------------------------------------------------------------------

    def _resolve_all(self) -> dict[str, list[tuple[str, int, Rule]]]:
        out: dict[str, list[tuple[str, int, Rule]]] = {}
        for stem, rf in self.parsed.items():
            if rf.jurisdiction == "defaults":
                continue
            resolved = self._resolve(stem, ())
            if resolved is not None:
                out[stem] = resolved
        return out

    def _resolve(self, stem: str, chain: tuple[str, ...]) -> list[tuple[str, int, Rule]] | None:
        """Rules of ``stem`` after inheritance: (file stem, index in file, rule)."""
        if stem in chain:
            self.issue(
                stem,
                ("extends",),
                "",
                f"`extends` forms a cycle: {' → '.join((*chain, stem))}",
                "remove `extends` from one of these files",
            )
            return None
        rf = self.parsed.get(stem)
        if rf is None:
            return None  # already reported (missing or invalid file)
        inherited: list[tuple[str, int, Rule]] = []
        if rf.extends is not None:
            parent = self._resolve(rf.extends, (*chain, stem))
            if parent is None:
                return None
            inherited = parent
        ids = {r.id for _, _, r in inherited}
        for i, rule_id in enumerate(rf.disable):
            if rule_id not in ids:
                self.issue(
                    stem,
                    ("disable", i),
                    rule_id,
                    f"disable lists {rule_id}, which is not inherited from {rf.extends}",
                    "remove it or correct the id (ids are case-sensitive)",
                )
        disabled = set(rf.disable)
        result = [item for item in inherited if item[2].id not in disabled]
        position = {r.id: k for k, (_, _, r) in enumerate(result)}
        for i, rule in enumerate(rf.rules):
            if rule.id in position:  # same id replaces the inherited rule, in place
                result[position[rule.id]] = (stem, i, rule)
            else:
                position[rule.id] = len(result)
                result.append((stem, i, rule))
        return result

    # --- lowering ---------------------------------------------------------------------------

    def _lower(
        self, resolved: dict[str, list[tuple[str, int, Rule]]]
    ) -> tuple[dict[str, CountryRules], list[Clause]]:
        countries: dict[str, CountryRules] = {}
        clauses: list[Clause] = []
        for stem in sorted(resolved):
            if stem not in self.calendars:
                continue  # its holiday calendar is invalid: already reported
            rf = self.parsed[stem]
            code = rf.jurisdiction
            refs: list[RuleRef] = []
            first = len(clauses)
            windowed: set[int] = set()
            for src_stem, index, rule in resolved[stem]:
                located = self.located[src_stem]
                ref = RuleRef(
                    id=rule.id,
                    title=rule.title,
                    citation=rule.citation,
                    message=rule.message or rule.title,
                    file=located.path,
                    line=located.mark_of(("rules", index))[0],
                    effect=rule.effect_kind,
                    when=rule.when,
                    model=rule,
                )
                refs.append(ref)
                condition = (
                    self.conditions.get((src_stem, rule.id), ex.FALSE)
                    if rule.when is not None
                    else ex.TRUE
                )
                if rule.send_window is not None and rule.when is None:
                    windowed.update(Channel[c.value] for c in rule.send_window.channels)
                clauses_of_rule = lower_rule(
                    rule,
                    ref,
                    code,
                    condition,
                    count_specs=self.count_specs,
                    notice_specs=self.notice_specs,
                )
                for clause in clauses_of_rule:
                    if clause.condition != ex.FALSE:
                        clauses.append(clause)
            missing = [c.name for c in CONTACT_CHANNELS if c not in windowed]
            if missing:
                self.issue(
                    stem,
                    ("rules",),
                    "",
                    f"{code}: no unconditional send_window for {', '.join(missing)}",
                    "add a send_window rule without `when` for these channels "
                    "(or extend defaults, which has one for every channel)",
                )
            zones = time_zones(rf, self._country_file(rf))
            countries[code] = CountryRules(
                code=code,
                title=rf.title,
                file=self.located[stem].path,
                zones=zones,
                calendar=self.calendars[stem],
                rules=tuple(refs),
                clause_ids=tuple(range(first, len(clauses))),
            )
        renamed = [
            Clause(
                name=f"c{i}",
                rule=c.rule,
                country=c.country,
                condition=c.condition,
                blocked=c.blocked,
                hold=c.hold,
                human_only=c.human_only,
                window_channels=c.window_channels,
                window=c.window,
            )
            for i, c in enumerate(clauses)
        ]
        return countries, renamed

    # --- assembly ---------------------------------------------------------------------------

    def _assemble(self, countries: dict[str, CountryRules], clauses: list[Clause]) -> CompiledRules:
        country_ids = {code: i for i, code in enumerate(sorted(countries))}
        used: set[str] = {COUNTRY_FACT}
        for clause in clauses:
            used |= ex.facts_used(clause.condition)
        # Short field names in the engine (f0, f1, …): the fact JSON is parsed on every
        # evaluation and echoed back for every fired rule, so its size is on the hot path.
        fields = {name: f"f{i}" for i, name in enumerate(sorted(used))}
        durable: dict[str, dict[str, Any]] = {}
        for clause in clauses:
            test = ex.to_durable(
                ex.all_of(
                    ex.Cmp(COUNTRY_FACT, "==", country_ids[clause.country]), clause.condition
                ),
                fields,
            )
            durable[clause.name] = {"all": [{"m": test}]}
        files = tuple(sorted(self.texts))
        return CompiledRules(
            version=content_version(files, [self.texts[p] for p in files]),
            rules_dir=self.rules_dir,
            files=files,
            countries=countries,
            clauses=tuple(clauses),
            fact_context=FactContext(
                country_ids=country_ids,
                calendars={code: c.calendar for code, c in countries.items()},
                count_specs=tuple(self.count_specs),
                needed=frozenset(used),
                notice_specs=tuple(self.notice_specs),
            ),
            durable_facts=tuple(sorted(used)),
            durable_rules=durable,
        )
