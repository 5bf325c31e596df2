"""The featurizer: case state → observation vector (train/serve parity contract).

One vectorised function serves a single ``Decide`` call (a batch of one) and the
simulator's thousands of debtors, so the two can never drift apart. The feature schema
(names, in order) is hashed into every model card; the service refuses a policy trained
on another schema.
"""

from __future__ import annotations

import hashlib
from functools import cache

import numpy as np

from engine.catalogue import CONTACT_CHANNELS
from engine.state import NEVER, AgeBand, CaseBatch, ConsentStatus, Product

FEATURE_VERSION = 2
_WINDOWS = (1, 7, 30)
_DAY_CAP = 90.0


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
    for event in (
        "conversation",
        "first_reminder",
        "first_demand",
        "last_payment",
        "last_contact",
        "legal_escalation",
    ):
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
# (count column, scale): a count c becomes min(c, 4·scale) / scale.
_COUNT_SCALES = np.array([10.0, 3.0, 10.0, 5.0, 3.0, 3.0, 1.0, 2.0, 1.0, 2.0, 1.0])
_ONE_HOTS = (("product", len(Product)), ("age_band", len(AgeBand)), ("weekday", 7))


def featurize(batch: CaseBatch) -> np.ndarray:
    """Observation matrix of shape (len(batch), N_FEATURES), float32, roughly in [0, 4].

    Written block by block into one preallocated matrix: the service calls it for a single
    case, where the number of numpy operations, not their size, is the cost.
    """
    n = len(batch)
    out = np.zeros((n, N_FEATURES), dtype=np.float32)
    original = np.maximum(batch.original_minor, 1).astype(np.float64)
    out[:, 0] = np.log10(1.0 + np.maximum(batch.outstanding_minor, 0) / 100.0) / 5.0
    out[:, 1] = np.clip(batch.outstanding_minor / original, 0.0, 2.0)
    out[:, 2] = np.minimum(batch.days_past_due, 360) / 120.0
    out[:, 3] = np.minimum(batch.tenure_months, 240) / 120.0
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
        out[:, col + w : col + len(_WINDOWS) * k : len(_WINDOWS)] = np.minimum(running, 20.0) / 5.0
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
    counts = np.column_stack(
        (
            batch.deliveries_30d,
            batch.opens_7d,
            batch.opens_30d,
            batch.clicks_30d,
            batch.conversations_30d,
            batch.payments_total,
            batch.promises_open,
            batch.promises_broken,
            batch.plans_broken,
            batch.complaints_total,
            batch.complaints_30d,
        )
    )
    scaled = np.minimum(counts, 4 * _COUNT_SCALES) / _COUNT_SCALES
    # Names, in order: deliveries, opens_7d, opens_30d, clicks, engagement_trend,
    # conversations, payments, paid_ratio, promises_open, promises_broken, plan_active,
    # plans_broken, complaints_total, complaints_30d.
    out[:, col : col + 4] = scaled[:, 0:4]
    out[:, col + 4] = np.clip(batch.opens_7d / 7.0 - batch.opens_30d / 30.0, -1.0, 1.0)
    out[:, col + 5 : col + 7] = scaled[:, 4:6]
    out[:, col + 7] = np.clip(batch.paid_minor_total / original, 0.0, 2.0)
    out[:, col + 8 : col + 10] = scaled[:, 6:8]
    out[:, col + 10] = batch.plan_active
    out[:, col + 11 : col + 14] = scaled[:, 8:11]
    assert col + 14 == N_FEATURES, (col + 14, N_FEATURES)
    return out


__all__ = ["FEATURE_NAMES", "N_FEATURES", "feature_schema_hash", "featurize"]
