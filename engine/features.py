"""The featurizer: case state → observation vector (train/serve parity contract).

:func:`featurize` is vectorised: it serves the simulator's thousands of debtors.
:func:`featurize_row` computes the same vector for ONE case in plain Python, because a
``Decide`` call featurizes a single case, where numpy's per-call overhead (about 40
calls, plus building a one-row :class:`CaseBatch`) is the whole cost. The two share
every scale, window and cap below, and tests/engine/test_features_row.py holds them equal
bit for bit. The feature schema (names, in order) is hashed into every model card; the
service refuses a policy trained on another schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from engine.catalogue import CONTACT_CHANNELS
from engine.state import HISTORY_DAYS, NEVER, AgeBand, CaseBatch, ConsentStatus, Product

FEATURE_VERSION = 2

# Scales, windows and caps, shared by featurize and featurize_row so they cannot drift.
# Changing any of them changes what a trained policy sees: bump FEATURE_VERSION.
_MINOR_PER_MAJOR = 100.0
_BALANCE_DECADES = 5.0
"""log_outstanding = log10(1 + balance in major units) / this: 1.0 at 100,000."""
_RATIO_CAP = 2.0
"""outstanding_ratio and paid_ratio (over the original balance) are clipped to [0, this]."""
_DPD_CAP, _DPD_SCALE = 360, 120.0
_TENURE_CAP, _TENURE_SCALE = 240, 120.0
_WINDOWS = (1, 7, 30)
"""Contact-count windows in days (today = day 0), ascending; the last fits in HISTORY_DAYS."""
_CONTACT_CAP, _CONTACT_SCALE = 20.0, 5.0
_DAY_CAP = 90.0
"""``days_since_*`` features saturate at this many days (1.0); NEVER also reads 1.0."""
_OPENS_DAYS = (7.0, 30.0)
"""The windows of opens_7d and opens_30d: engagement_trend compares their daily rates."""
_TREND_CAP = 1.0
_COUNTS: tuple[tuple[str, float], ...] = (
    ("deliveries_30d", 10.0),
    ("opens_7d", 3.0),
    ("opens_30d", 10.0),
    ("clicks_30d", 5.0),
    ("conversations_30d", 3.0),
    ("payments_total", 3.0),
    ("promises_open", 1.0),
    ("promises_broken", 2.0),
    ("plans_broken", 1.0),
    ("complaints_total", 2.0),
    ("complaints_30d", 1.0),
)
"""(count column, scale): a count c becomes min(c, _COUNT_CAP·scale) / scale."""
_COUNT_CAP = 4.0
_DAYS_SINCE = (
    "conversation",
    "first_reminder",
    "first_demand",
    "last_payment",
    "last_contact",
    "legal_escalation",
)
"""Events with a days_since_/never_ feature pair, in schema order."""


def _names() -> tuple[str, ...]:
    names = [
        "log_outstanding",
        "outstanding_ratio",
        "days_past_due",
        "tenure",
        "prior_on_time_ratio",
        "risk_score",
        "has_app",
    ]
    names += [f"product_{p.name.lower()}" for p in Product]
    names += [f"age_{a.name.lower()}" for a in AgeBand]
    names += [f"weekday_{d}" for d in range(7)]
    names += [f"consent_{c.name.lower()}" for c in CONTACT_CHANNELS]
    names += [f"opted_out_{c.name.lower()}" for c in CONTACT_CHANNELS]
    names += [
        "dispute",
        "cease_communication",
        "vulnerable",
        "bankruptcy_or_deceased",
        "mental_health_crisis",
        "time_barred",
        "hardship",
        "breathing_space",
    ]
    names += [f"contacts_{c.name.lower()}_{w}d" for c in CONTACT_CHANNELS for w in _WINDOWS]
    for event in _DAYS_SINCE:
        names += [f"days_since_{event}", f"never_{event}"]
    names += [
        "deliveries_30d",
        "opens_7d",
        "opens_30d",
        "clicks_30d",
        "engagement_trend",
        "conversations_30d",
        "payments_total",
        "paid_ratio",
        "promises_open",
        "promises_broken",
        "plan_active",
        "plans_broken",
        "complaints_total",
        "complaints_30d",
    ]
    return tuple(names)


FEATURE_NAMES: tuple[str, ...] = _names()
N_FEATURES = len(FEATURE_NAMES)


@cache
def feature_schema_hash() -> str:
    payload = f"v{FEATURE_VERSION}:" + ",".join(FEATURE_NAMES)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _days_since_last_contact(batch: CaseBatch) -> np.ndarray:
    """Offset of the most recent day with any contact in the kept history, else NEVER."""
    any_contact = batch.contacts_by_day.sum(axis=2) > 0  # (n, days)
    first = np.argmax(any_contact, axis=1)
    return np.where(any_contact.any(axis=1), first, NEVER)


_CHANNEL_COLUMNS = np.array([int(c) for c in CONTACT_CHANNELS])
_COUNT_SCALES = np.array([scale for _, scale in _COUNTS])
_ONE_HOTS = (("product", len(Product)), ("age_band", len(AgeBand)), ("weekday", 7))
assert _WINDOWS[-1] <= HISTORY_DAYS


def featurize(batch: CaseBatch) -> np.ndarray:
    """Observation matrix of shape (len(batch), N_FEATURES), float32, roughly in [0, 4].

    Written block by block into one preallocated matrix, to keep the number of numpy
    operations down. For one case, :func:`featurize_row` gives the same row far faster.
    """
    n = len(batch)
    out = np.zeros((n, N_FEATURES), dtype=np.float32)
    original = np.maximum(batch.original_minor, 1).astype(np.float64)
    balance = np.maximum(batch.outstanding_minor, 0) / _MINOR_PER_MAJOR
    out[:, 0] = np.log10(1.0 + balance) / _BALANCE_DECADES
    out[:, 1] = np.clip(batch.outstanding_minor / original, 0.0, _RATIO_CAP)
    out[:, 2] = np.minimum(batch.days_past_due, _DPD_CAP) / _DPD_SCALE
    out[:, 3] = np.minimum(batch.tenure_months, _TENURE_CAP) / _TENURE_SCALE
    out[:, 4] = batch.prior_on_time_ratio
    out[:, 5] = batch.risk_score
    out[:, 6] = batch.has_app
    col = 7
    rows = np.arange(n)
    for name, size in _ONE_HOTS:
        values = getattr(batch, name).astype(np.intp)
        valid = (values >= 0) & (values < size)
        out[rows[valid], col + values[valid]] = 1.0
        col += size
    k = len(CONTACT_CHANNELS)
    consent = batch.consent[:, _CHANNEL_COLUMNS]
    out[:, col : col + k] = consent == ConsentStatus.GRANTED
    out[:, col + k : col + 2 * k] = consent == ConsentStatus.OPTED_OUT
    col += 2 * k
    flags = (
        batch.dispute,
        batch.cease_communication,
        batch.vulnerable,
        batch.bankruptcy | batch.deceased,
        batch.mental_health_crisis,
        batch.time_barred,
        batch.hardship,
        batch.breathing_space_days_left > 0,
    )
    out[:, col : col + len(flags)] = np.column_stack(flags)
    col += len(flags)
    # Contacts in the last 1/7/30 days per channel, channel-major. Only the 30 newest of
    # the kept days are read, and each longer window adds to the shorter one.
    recent = batch.contacts_by_day[:, : _WINDOWS[-1], :][:, :, _CHANNEL_COLUMNS]
    start = 0
    running = np.zeros((n, k), dtype=np.int64)
    for w, window in enumerate(_WINDOWS):
        running = running + recent[:, start:window, :].sum(axis=1)
        start = window
        out[:, col + w : col + len(_WINDOWS) * k : len(_WINDOWS)] = (
            np.minimum(running, _CONTACT_CAP) / _CONTACT_SCALE
        )
    col += len(_WINDOWS) * k
    days = np.column_stack(
        (
            batch.days_since_conversation,
            batch.days_since_first_reminder,
            batch.days_since_first_demand,
            batch.days_since_last_payment,
            _days_since_last_contact(batch),
            batch.days_since_legal_escalation,
        )
    )
    never = days >= NEVER
    out[:, col : col + 2 * days.shape[1] : 2] = np.where(
        never, 1.0, np.minimum(days, _DAY_CAP) / _DAY_CAP
    )
    out[:, col + 1 : col + 2 * days.shape[1] : 2] = never
    col += 2 * days.shape[1]
    counts = np.column_stack([getattr(batch, name) for name, _ in _COUNTS])
    scaled = np.minimum(counts, _COUNT_CAP * _COUNT_SCALES) / _COUNT_SCALES
    # Names, in order: deliveries, opens_7d, opens_30d, clicks, engagement_trend,
    # conversations, payments, paid_ratio, promises_open, promises_broken, plan_active,
    # plans_broken, complaints_total, complaints_30d.
    out[:, col : col + 4] = scaled[:, 0:4]
    trend = batch.opens_7d / _OPENS_DAYS[0] - batch.opens_30d / _OPENS_DAYS[1]
    out[:, col + 4] = np.clip(trend, -_TREND_CAP, _TREND_CAP)
    out[:, col + 5 : col + 7] = scaled[:, 4:6]
    out[:, col + 7] = np.clip(batch.paid_minor_total / original, 0.0, _RATIO_CAP)
    out[:, col + 8 : col + 10] = scaled[:, 6:8]
    out[:, col + 10] = batch.plan_active
    out[:, col + 11 : col + 14] = scaled[:, 8:11]
    assert col + 14 == N_FEATURES, (col + 14, N_FEATURES)
    return out


# featurize_row's lookup tables, derived from the shared constants above.
_CHANNEL_SLOTS = tuple(int(c) for c in CONTACT_CHANNELS)
_GRANTED, _OPTED_OUT = int(ConsentStatus.GRANTED), int(ConsentStatus.OPTED_OUT)
_WINDOW_DAYS = (np.arange(HISTORY_DAYS) < np.array(_WINDOWS)[:, None]).astype(np.int64)
"""(len(_WINDOWS), HISTORY_DAYS): row w picks the days of window w (dot: exact int64 sums)."""
_WINDOW_CELLS = tuple((w, slot) for slot in _CHANNEL_SLOTS for w in range(len(_WINDOWS)))
"""(window, slot) of each contacts_{channel}_{window}d feature, in schema order."""
_COUNT_CAPS = tuple((name, _COUNT_CAP * scale, scale) for name, scale in _COUNTS)


def _clip(value: float, low: float, high: float) -> float:
    """``np.clip`` of one float (no NaN can reach it: every input is finite)."""
    return min(max(value, low), high)


def _days_since_last_contact_row(by_day: np.ndarray) -> int:
    """As :func:`_days_since_last_contact`: the newest day whose total over all slots is
    positive, else NEVER. The all-zero days before the first count are skipped at C speed
    (in the bytes of the day-major array), usually leaving a single day to add up."""
    raw = by_day.tobytes()
    first = (len(raw) - len(raw.lstrip(b"\0"))) // (by_day.itemsize * by_day.shape[1])
    for day in range(first, by_day.shape[0]):
        if sum(by_day[day].tolist()) > 0:
            return day
    return NEVER


def featurize_row(row: Mapping[str, Any]) -> np.ndarray:
    """The observation of ONE case, shape (N_FEATURES,), float32, from its
    :func:`engine.state.case_row`: bit for bit ``featurize(CaseBatch.from_states([s]))[0]``.

    A decision featurizes a single case, where :func:`featurize` pays numpy's per-call
    overhead about 40 times over (and the one-row batch must be built first). Here each
    feature is a Python float computed with the same float64 operations, in the same
    order, as the batch path (IEEE arithmetic gives the same bits), and rounded to float32
    once, at the end, as assigning into the batch's float32 matrix does. Python converts
    an int to float64 as numpy's int64 cast does (round to nearest), so even balances
    above 2**53 agree; the only library function, log10, is numpy's on both paths
    (``math.log10`` differs in the last float64 bit for about 2% of balances on an AVX-512
    machine, where numpy runs its own SIMD loop). One small integer dot product sums the
    contact windows.
    """
    # A float, as in the batch: Python's int / int would round the exact quotient instead.
    original = float(max(row["original_minor"], 1))
    outstanding = row["outstanding_minor"]
    balance = max(outstanding, 0) / _MINOR_PER_MAJOR
    x: list[float] = [
        float(np.log10(1.0 + balance)) / _BALANCE_DECADES,
        _clip(outstanding / original, 0.0, _RATIO_CAP),
        min(row["days_past_due"], _DPD_CAP) / _DPD_SCALE,
        min(row["tenure_months"], _TENURE_CAP) / _TENURE_SCALE,
        # float32 columns in the batch: the one rounding to float32 happens in np.array.
        row["prior_on_time_ratio"],
        row["risk_score"],
        1.0 if row["has_app"] else 0.0,
    ]
    for name, size in _ONE_HOTS:
        hot = [0.0] * size
        value = int(row[name])
        if 0 <= value < size:
            hot[value] = 1.0
        x += hot
    consent = row["consent"].tolist()
    statuses = [consent[slot] for slot in _CHANNEL_SLOTS]
    x += [1.0 if s == _GRANTED else 0.0 for s in statuses]
    x += [1.0 if s == _OPTED_OUT else 0.0 for s in statuses]
    x += [
        1.0 if row["dispute"] else 0.0,
        1.0 if row["cease_communication"] else 0.0,
        1.0 if row["vulnerable"] else 0.0,
        1.0 if row["bankruptcy"] or row["deceased"] else 0.0,
        1.0 if row["mental_health_crisis"] else 0.0,
        1.0 if row["time_barred"] else 0.0,
        1.0 if row["hardship"] else 0.0,
        1.0 if row["breathing_space_days_left"] > 0 else 0.0,
    ]
    by_day = row["contacts_by_day"]  # (HISTORY_DAYS, N_CHANNEL_SLOTS) int16
    in_window = _WINDOW_DAYS.dot(by_day).tolist()  # [window][slot]
    x += [min(in_window[w][slot], _CONTACT_CAP) / _CONTACT_SCALE for w, slot in _WINDOW_CELLS]
    last_contact = _days_since_last_contact_row(by_day)
    for days in (
        row["days_since_conversation"],
        row["days_since_first_reminder"],
        row["days_since_first_demand"],
        row["days_since_last_payment"],
        last_contact,
        row["days_since_legal_escalation"],
    ):
        x += (1.0, 1.0) if days >= NEVER else (min(days, _DAY_CAP) / _DAY_CAP, 0.0)
    scaled = [min(row[name], cap) / scale for name, cap, scale in _COUNT_CAPS]
    trend = row["opens_7d"] / _OPENS_DAYS[0] - row["opens_30d"] / _OPENS_DAYS[1]
    # Schema order interleaves three derived features with the scaled counts.
    x += scaled[0:4]
    x.append(_clip(trend, -_TREND_CAP, _TREND_CAP))
    x += scaled[4:6]
    x.append(_clip(row["paid_minor_total"] / original, 0.0, _RATIO_CAP))
    x += scaled[6:8]
    x.append(1.0 if row["plan_active"] else 0.0)
    x += scaled[8:11]
    return np.array(x, dtype=np.float32)


__all__ = ["FEATURE_NAMES", "N_FEATURES", "feature_schema_hash", "featurize", "featurize_row"]
