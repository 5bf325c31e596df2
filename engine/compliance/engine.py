"""The compliance engine: case state → verdict (``durable_rules``) or batch mask (numpy).

Both paths read the same compiled clauses and the same facts; only the evaluation of the
clause conditions differs (``durable_rules`` for one case in the service, numpy for the
simulator's batches). The facts come from :func:`derive_facts` (batch columns) or, for
one case, :func:`derive_facts_row` (plain Python, no numpy call overhead).
``tests/engine/compliance/test_compliance_parity.py`` proves the two fact derivations
equal fact by fact, and the two paths' masks equal, on 10,000 random cases each.
"""

from __future__ import annotations

import json
import operator
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from engine.catalogue import CATALOGUE, CONTACT_CHANNELS, SLOT_HOURS, Action, Slot
from engine.compliance import expressions as ex
from engine.compliance.calendar import MINUTES_PER_DAY, local_instant, zone
from engine.compliance.compiler import (
    CompiledRules,
    CountryRules,
    compile_rules,
    content_version,
    read_rules_dir,
)
from engine.compliance.durable_backend import DurableRuleset
from engine.compliance.errors import InvalidCaseError, UnknownCountryError
from engine.compliance.facts import derive_facts, derive_facts_row
from engine.compliance.reasons import FiredRules, SlotPair, entry_reasons, instant_reasons
from engine.compliance.verdict import (
    UNKNOWN_TIMEZONE,
    ComplianceVerdict,
    RuleHit,
    subdivision_unknown,
)
from engine.state import N_CHANNEL_SLOTS, CaseBatch, CaseSnapshot, CaseState, case_row

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

# Send-slot bounds in local minutes; a letter's POST slot is the whole day.
_SLOT_MINUTES: dict[int, tuple[int, int]] = {
    int(s): (h0 * 60, h1 * 60) for s, (h0, h1) in SLOT_HOURS.items()
} | {int(Slot.POST): (0, MINUTES_PER_DAY)}


def _pairs() -> tuple[tuple[SlotPair, ...], np.ndarray]:
    pairs: dict[tuple[int, int], int] = {}
    of_index = np.full(len(CATALOGUE), -1, dtype=np.int64)
    for i, t in enumerate(CATALOGUE.treatments):
        if t.action is Action.WAIT:
            continue
        key = (int(t.channel), int(t.slot))
        of_index[i] = pairs.setdefault(key, len(pairs))
    ordered = sorted(pairs.items(), key=lambda kv: kv[1])
    return (
        tuple(SlotPair(ch, sl, *_SLOT_MINUTES[sl]) for (ch, sl), _ in ordered),
        of_index,
    )


_PAIRS, _PAIR_OF_INDEX = _pairs()


def _pair_of(index: int) -> SlotPair:
    return _PAIRS[int(_PAIR_OF_INDEX[index])]


_PAIR_CHANNEL = np.array([p.channel for p in _PAIRS], dtype=np.int64)
_PAIR_START = np.array([p.start for p in _PAIRS], dtype=np.int64)
_PAIR_END = np.array([p.end for p in _PAIRS], dtype=np.int64)
_CONTACT = _PAIR_OF_INDEX >= 0
_PAIR_INDEX_EXT = np.where(_PAIR_OF_INDEX >= 0, _PAIR_OF_INDEX, len(_PAIRS))
_EFFECTS_CACHE_SIZE = 4096
FIRED_MEMO_SIZE = 8192
"""Fact sets whose durable_rules answer an engine remembers (0: ask durable_rules every time)."""


@dataclass(frozen=True, slots=True)
class _FiredEffects:
    """The time-independent consequences of one set of fired clauses."""

    block_ids: tuple[int, ...]
    window_ids: tuple[int, ...]
    open_mask: np.ndarray
    """Not blocked by any fired block clause (WAIT included)."""
    hold: bool
    human_only: bool
    w_start: tuple[int, ...]
    w_end: tuple[int, ...]
    pair_lo: tuple[int, ...]
    pair_hi: tuple[int, ...]
    """Local window [lo, hi) of each (channel, slot) pair, before the decision time."""
    shaping: tuple[RuleHit, ...]
    masks: dict[tuple[bool, ...], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False
    )
    """Mask per pattern of open (channel, slot) pairs: the few patterns of a day recur."""

    def mask_for(self, allowed: tuple[bool, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(catalogue mask, per-pair flags) for one pattern of open pairs; read-only
        arrays, shared by every verdict with this pattern (thread-safe: a racing
        recomputation stores an equal value)."""
        cached = self.masks.get(allowed)
        if cached is None:
            pairs = np.array(allowed, dtype=bool)
            # _PAIR_INDEX_EXT maps WAIT to a trailing True.
            mask = self.open_mask & np.append(pairs, True)[_PAIR_INDEX_EXT]
            mask.flags.writeable = False
            pairs.flags.writeable = False
            cached = self.masks[allowed] = (mask, pairs)
        return cached


_cache: weakref.WeakValueDictionary[tuple[str, str], ComplianceEngine] = (
    weakref.WeakValueDictionary()
)
_cache_lock = threading.Lock()


class ComplianceEngine:
    """Compiled rules of every shipped jurisdiction, evaluated per case or per batch."""

    def __init__(self, compiled: CompiledRules) -> None:
        self.compiled = compiled
        self.version: str = compiled.version
        self.countries: frozenset[str] = frozenset(compiled.countries)
        self.rules_dir = compiled.rules_dir
        clauses = compiled.clauses
        self._clauses = clauses
        self._facts = compiled.durable_facts
        # Clauses with the same condition (e.g. a country's send windows for calls and for
        # messages) share one durable_rules rule: one firing, not one per clause, and
        # each firing costs a round trip into the engine (~2 µs).
        rules: dict[str, Any] = {}
        first_of: dict[str, str] = {}
        self._clauses_of: dict[str, list[int]] = {}
        for i, clause in enumerate(clauses):
            definition = compiled.durable_rules[clause.name]
            name = first_of.setdefault(json.dumps(definition, sort_keys=True), clause.name)
            rules.setdefault(name, definition)
            self._clauses_of.setdefault(name, []).append(i)
        self._durable = DurableRuleset(
            rules,
            label=f"tact_{self.version}",
            fields=[f"f{i}" for i in range(len(self._facts))],
        )
        # The durable facts of a derive_facts_row dict, in field order, in one C call
        # (itemgetter of one key returns the value itself, not a 1-tuple).
        getter = operator.itemgetter(*self._facts)
        self._fact_values: Callable[[Mapping[str, int]], Sequence[int]] = (
            getter if len(self._facts) > 1 else lambda facts: (getter(facts),)
        )
        n_clauses = len(clauses)
        self._is_window = np.array([c.is_window for c in clauses], dtype=bool)
        self._block = np.zeros((n_clauses, len(CATALOGUE)), dtype=bool)
        for i, c in enumerate(clauses):
            if c.blocked is not None:
                self._block[i] = c.blocked
        # Fail closed by construction: no clause can block WAIT.
        assert not self._block[:, CATALOGUE.WAIT_INDEX].any(), "a clause blocks WAIT"
        self._block_f32 = self._block.astype(np.float32)
        self._win_start = np.array([(c.window or (MINUTES_PER_DAY, 0))[0] for c in clauses])
        self._win_end = np.array([(c.window or (MINUTES_PER_DAY, 0))[1] for c in clauses])
        self._win_channels = np.zeros((n_clauses, N_CHANNEL_SLOTS), dtype=bool)
        for i, c in enumerate(clauses):
            self._win_channels[i, list(c.window_channels)] = True
        self._window_clause_ids = np.flatnonzero(self._is_window)
        self._country_clauses = {
            code: np.array(cr.clause_ids, dtype=np.int64) for code, cr in compiled.countries.items()
        }
        self._hits = [c.rule.hit for c in clauses]
        self._effects_cache: dict[tuple[int, ...], _FiredEffects] = {}
        # durable_rules' answer per distinct fact set. The answer is a pure function of the
        # facts for this (immutable) ruleset version, and cases of one day share few fact
        # sets, so each distinct set is posted to durable_rules once per engine (a reload
        # builds a new engine, hence a new memo). Bounded: when full, the older half goes.
        self._fired_memo: dict[tuple[int, ...], tuple[int, ...]] = {}
        self.fired_memo_size = FIRED_MEMO_SIZE
        self.verdicts = 0
        """Fact sets evaluated (statistics: concurrent calls may undercount slightly)."""

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def load(cls, rules_dir: Path | None = None) -> ComplianceEngine:
        """Compile the rule files of ``rules_dir`` (default: the repository's ``rules/``).

        Identical file content yields the same (cached, still referenced) engine, so a
        reload of unchanged files creates no new ``durable_rules`` ruleset. Raises
        :class:`RulesError` with file, line, column, rule id and fix for each problem.
        """
        rules_dir = Path(rules_dir or DEFAULT_RULES_DIR).resolve()
        if not rules_dir.is_dir():
            return cls(compile_rules(rules_dir))  # raises a located RulesError
        files, texts = read_rules_dir(rules_dir)
        return cls.from_texts(rules_dir, dict(zip(files, texts, strict=True)))

    @classmethod
    def from_texts(cls, rules_dir: Path, texts: dict[Path, str]) -> ComplianceEngine:
        """Compile already-read rule files (a consistent snapshot, e.g. for hot reload)."""
        files = sorted(texts)
        key = (str(Path(rules_dir).resolve()), content_version(files, [texts[p] for p in files]))
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None:
            return cached
        engine = cls(compile_rules(Path(rules_dir), texts))
        with _cache_lock:
            _cache[key] = engine
        return engine

    # --- introspection ------------------------------------------------------------------------

    def country_rules(self, country: str) -> CountryRules:
        """The compiled rules of a jurisdiction: a country (``US``) or a subdivision with a
        rule file (``US-MA``)."""
        rules = self.compiled.countries.get(country)
        if rules is None:
            raise UnknownCountryError(country, self.countries)
        return rules

    def jurisdiction(self, snapshot: CaseSnapshot) -> str:
        """The jurisdiction whose rules decide a case: its subdivision when there is a rule
        file for it, else its country (UnknownCountryError when neither has one)."""
        subdivision = snapshot.subdivision
        if subdivision and subdivision in self.compiled.countries:
            return subdivision
        self.country_rules(snapshot.country)
        return snapshot.country

    def timezones(self, country: str) -> tuple[str, ...]:
        """IANA zones of a jurisdiction; the first is the reference for a case without one."""
        return self.country_rules(country).zones

    def reference_zone(self, country: str, timezone: str | None) -> ZoneInfo:
        """The zone in which a case's local date and send slots are read (``country``: the
        case's jurisdiction, see :meth:`jurisdiction`)."""
        known = _valid_zone(timezone)
        return zone(known) if known else zone(self.timezones(country)[0])

    # --- the durable_rules path ---------------------------------------------------------------

    def evaluate(self, state: CaseState, row: Mapping[str, Any] | None = None) -> ComplianceVerdict:
        """Verdict for one case at ``state.as_of`` (``durable_rules``; thread-safe).

        ``row``: ``engine.state.case_row(state)`` if the caller already built it (the
        service does, for the featurizer); it is built here otherwise.
        """
        snap = state.snapshot
        if state.as_of.tzinfo is None or state.as_of.utcoffset() is None:
            raise InvalidCaseError(
                "CaseState.as_of must be timezone-aware UTC; got a naive datetime"
            )
        code = self.jurisdiction(snap)
        if row is None:
            row = case_row(state)
        elif row["country"] != snap.country:
            raise InvalidCaseError("row must be case_row(state) of this case")
        facts = derive_facts_row(row, state.local_date, self.compiled.fact_context, code)
        verdict = self._evaluate_values(
            self._fact_values(facts),
            code,
            state.local_date,
            state.as_of.astimezone(UTC),
            snap.timezone,
        )
        if snap.subdivision and code != snap.subdivision:  # say whose rules decided, first
            verdict.shaping_hits = [subdivision_unknown(snap), *verdict.shaping_hits]
        return verdict

    def _evaluate_values(
        self,
        values: Sequence[int],
        country: str,
        local_day: date,
        as_of: datetime,
        timezone: str | None,
    ) -> ComplianceVerdict:
        key = tuple(values)
        memo = self._fired_memo
        fired = memo.get(key)
        if fired is None:
            clauses_of = self._clauses_of
            fired = tuple(
                sorted(i for name in self._durable.matches_values(key) for i in clauses_of[name])
            )
            size = self.fired_memo_size
            if size:  # dict get/set/pop are atomic; a racing miss posts twice, harmlessly
                if len(memo) >= size:
                    # The older half goes (insertion order; list() copies under the GIL).
                    for stale in list(memo)[: max(size // 2, 1)]:
                        memo.pop(stale, None)
                memo[key] = fired
        self.verdicts += 1
        return self._verdict(country, local_day, as_of, timezone, fired)

    @property
    def durable_posts(self) -> int:
        """Fact sets posted to durable_rules so far (the rest were answered by the memo)."""
        return self._durable.posts

    def _static_part(self, fired: tuple[int, ...]) -> _FiredEffects:
        """What a set of fired clauses implies regardless of the time of day, cached: the
        same few combinations recur across cases (thread-safe: dict get/set are atomic,
        and a racing recomputation yields the same value)."""
        key = fired
        cached = self._effects_cache.get(key)
        if cached is not None:
            return cached
        clauses = self._clauses
        block_ids = tuple(c for c in fired if not self._is_window[c])
        window_ids = tuple(c for c in fired if self._is_window[c])
        blocked: np.ndarray = (
            np.asarray(self._block[list(block_ids)].any(axis=0))
            if block_ids
            else np.zeros(len(CATALOGUE), dtype=bool)
        )
        # Local window per channel: the intersection of every fired window clause.
        w_start = [0] * N_CHANNEL_SLOTS
        w_end = [MINUTES_PER_DAY] * N_CHANNEL_SLOTS
        for c in window_ids:
            clause = clauses[c]
            lo, hi = clause.window or (MINUTES_PER_DAY, 0)
            for ch in clause.window_channels:
                w_start[ch] = max(w_start[ch], lo)
                w_end[ch] = min(w_end[ch], hi)
        shaping: list[RuleHit] = []
        seen: set[str] = set()
        for c in fired:
            hit = self._hits[c]
            if hit.rule_id not in seen:
                seen.add(hit.rule_id)
                shaping.append(hit)
        pair_lo = [max(p.start, w_start[p.channel]) for p in _PAIRS]
        pair_hi = [min(p.end, w_end[p.channel]) for p in _PAIRS]
        effects = _FiredEffects(
            block_ids=block_ids,
            window_ids=window_ids,
            open_mask=~blocked,
            hold=any(clauses[c].hold for c in block_ids),
            human_only=any(clauses[c].human_only for c in block_ids),
            w_start=tuple(w_start),
            w_end=tuple(w_end),
            pair_lo=tuple(pair_lo),
            pair_hi=tuple(pair_hi),
            shaping=tuple(shaping),
        )
        if len(self._effects_cache) >= _EFFECTS_CACHE_SIZE:
            self._effects_cache.clear()
        self._effects_cache[key] = effects
        return effects

    def _verdict(
        self,
        country: str,
        local_day: date,
        as_of: datetime,
        timezone: str | None,
        fired: tuple[int, ...],
    ) -> ComplianceVerdict:
        fx = self._static_part(fired)
        w_start, w_end = fx.w_start, fx.w_end
        zone_name = _valid_zone(timezone)
        zones = (
            (zone(zone_name),)
            if zone_name
            else tuple(zone(z) for z in self.country_rules(country).zones)
        )
        if len(zones) == 1:
            # Known zone: local wall-clock minutes decide; UTC is computed only on demand.
            now = _as_of_minute(local_day, as_of, zones[0])
            lo_list, hi_list = fx.pair_lo, fx.pair_hi
            allowed = [lo < hi and hi > now for lo, hi in zip(lo_list, hi_list, strict=True)]
            ref = zones[0]

            def window(index: int) -> tuple[datetime, datetime] | None:
                p = int(_PAIR_OF_INDEX[index])
                start = local_instant(local_day, lo_list[p], ref)
                return max(start, as_of), local_instant(local_day, hi_list[p], ref)

        else:
            pair_windows = _pair_windows_across(local_day, as_of, zones, fx.w_start, fx.w_end)
            allowed = [w is not None for w in pair_windows]

            def window(index: int) -> tuple[datetime, datetime] | None:
                return pair_windows[int(_PAIR_OF_INDEX[index])]

        mask, allowed_pairs = fx.mask_for(tuple(allowed))
        shaping = list(fx.shaping)
        if zone_name is None:
            shaping.append(UNKNOWN_TIMEZONE)

        def fired_rules() -> FiredRules:  # built only when a reason is asked for
            return FiredRules(
                clauses=self._clauses,
                block=self._block,
                block_ids=fx.block_ids,
                window_ids=fx.window_ids,
                local_day=local_day,
                zones=zones,
                pair_of=_pair_of,
            )

        def reasons(index: int) -> list[RuleHit]:
            p = int(_PAIR_OF_INDEX[index])
            return entry_reasons(
                fired_rules(), index, pair_open=bool(allowed_pairs[p]), w_start=w_start, w_end=w_end
            )

        def reasons_at(indices: Sequence[int], instant: datetime) -> list[RuleHit]:
            return instant_reasons(fired_rules(), indices, instant)

        return ComplianceVerdict(
            ruleset_version=self.version,
            country=country,
            local_date=local_day,
            as_of=as_of,
            timezone=zone_name,
            mask=mask,
            human_only=fx.human_only,
            hold=fx.hold,
            shaping_hits=shaping,
            _reasons=reasons,
            _window=window,
            _reasons_at=reasons_at,
        )

    # --- the numpy path -------------------------------------------------------------------------

    def fired_batch(
        self, batch: CaseBatch, local_dates: np.ndarray, jurisdictions: np.ndarray | None = None
    ) -> np.ndarray:
        """(N, n_clauses) bool: which clauses hold for each row (numpy path).

        ``jurisdictions``: each row's (see :meth:`jurisdiction`); default its country."""
        n = len(batch)
        codes = batch.country if jurisdictions is None else np.asarray(jurisdictions)
        unknown = sorted(set(np.unique(codes).tolist()) - self.countries)
        if unknown:
            raise UnknownCountryError(str(unknown[0]), self.countries)
        facts = derive_facts(batch, local_dates, self.compiled.fact_context, codes)
        fired = np.zeros((n, len(self._clauses)), dtype=bool)
        for code, ids in self._country_clauses.items():
            rows = np.flatnonzero(codes == code)
            if rows.size == 0:
                continue
            sub = {k: v[rows] for k, v in facts.items()}
            for c in ids.tolist():
                fired[rows, c] = ex.evaluate_numpy(self._clauses[c].condition, sub, rows.size)
        return fired

    def mask_batch(
        self, batch: CaseBatch, local_dates: np.ndarray, jurisdictions: np.ndarray | None = None
    ) -> np.ndarray:
        """(N, len(CATALOGUE)) bool mask for decisions at the start of each row's local day
        (all slots still ahead), known time zone; equal to ``evaluate(...).mask``."""
        fired = self.fired_batch(batch, local_dates, jurisdictions)
        n = len(batch)
        # Only clauses that fired somewhere take part: most of a country's rules are quiet
        # on most days, and the product shrinks with them.
        active = np.flatnonzero(fired.any(axis=0))
        blocked = (fired[:, active].astype(np.float32) @ self._block_f32[active]) > 0
        # Send windows: a channel's window is the intersection of every fired window clause
        # (start = max of starts, end = min of ends), for all clauses at once.
        windows = np.intersect1d(self._window_clause_ids, active)
        w_start = np.zeros((n, N_CHANNEL_SLOTS), dtype=np.int64)
        w_end = np.full((n, N_CHANNEL_SLOTS), MINUTES_PER_DAY, dtype=np.int64)
        if windows.size:
            hit = fired[:, windows, None] & self._win_channels[windows][None, :, :]  # (n, w, ch)
            starts = self._win_start[windows].reshape(1, -1, 1)
            ends = self._win_end[windows].reshape(1, -1, 1)
            w_start = np.maximum(w_start, np.where(hit, starts, 0).max(axis=1))
            w_end = np.minimum(w_end, np.where(hit, ends, MINUTES_PER_DAY).min(axis=1))
        lo = np.maximum(_PAIR_START[None, :], w_start[:, _PAIR_CHANNEL])
        hi = np.minimum(_PAIR_END[None, :], w_end[:, _PAIR_CHANNEL])
        pair_ok = lo < hi
        window_ok = np.ones((n, len(CATALOGUE)), dtype=bool)
        window_ok[:, _CONTACT] = pair_ok[:, _PAIR_OF_INDEX[_CONTACT]]
        mask = ~blocked & window_ok
        mask[:, CATALOGUE.WAIT_INDEX] = True
        return mask


@cache
def _valid_zone(name: str | None) -> str | None:
    """``name`` if it is a valid IANA zone; None (= unknown, fail safe) otherwise."""
    if not name:
        return None
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def _as_of_minute(local_day: date, as_of: datetime, tz: ZoneInfo) -> float:
    """``as_of`` as local wall-clock minutes of ``local_day`` (−1 before it, ∞ after)."""
    local = as_of.astimezone(tz)
    if local.date() < local_day:
        return -1.0
    if local.date() > local_day:
        return float("inf")
    return local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60


def _pair_windows_across(
    local_day: date,
    as_of: datetime,
    zones: tuple[ZoneInfo, ...],
    w_start: tuple[int, ...],
    w_end: tuple[int, ...],
) -> list[tuple[datetime, datetime] | None]:
    """Unknown zone: UTC window of every (channel, slot) pair that holds in every zone of
    the country (slot hours read in the reference zone ``zones[0]``); None if empty/passed."""
    out: list[tuple[datetime, datetime] | None] = []
    for window in _day_pair_windows_across(local_day, zones, w_start, w_end):
        if window is not None and window[1] > as_of:
            window = (max(window[0], as_of), window[1])
            out.append(window)
        else:
            out.append(None)
    return out


@lru_cache(maxsize=4096)
def _day_pair_windows_across(
    local_day: date,
    zones: tuple[ZoneInfo, ...],
    w_start: tuple[int, ...],
    w_end: tuple[int, ...],
) -> tuple[tuple[datetime, datetime] | None, ...]:
    """:func:`_pair_windows_across` before the decision instant is applied: the same for
    every case of a country with the same channel windows on that day, hence cached
    (a multi-zone country costs ~100 zone conversions per verdict otherwise)."""
    ref = zones[0]
    channel_utc: dict[int, tuple[datetime, datetime] | None] = {}
    for ch in {int(c) for c in CONTACT_CHANNELS}:
        if w_start[ch] >= w_end[ch]:
            channel_utc[ch] = None
            continue
        lo_utc = max(local_instant(local_day, w_start[ch], z) for z in zones)
        hi_utc = min(local_instant(local_day, w_end[ch], z) for z in zones)
        channel_utc[ch] = (lo_utc, hi_utc) if lo_utc < hi_utc else None
    out: list[tuple[datetime, datetime] | None] = []
    for p in _PAIRS:
        cw = channel_utc[p.channel]
        if cw is None:
            out.append(None)
            continue
        lo_utc = max(cw[0], local_instant(local_day, p.start, ref))
        hi_utc = min(cw[1], local_instant(local_day, p.end, ref))
        out.append((lo_utc, hi_utc) if lo_utc < hi_utc else None)
    return tuple(out)
