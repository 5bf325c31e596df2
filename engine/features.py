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


def _one_hot(values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((values.shape[0], n), dtype=np.float32)
    valid = (values >= 0) & (values < n)
    out[np.flatnonzero(valid), values[valid].astype(np.intp)] = 1.0
    return out


def _days(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    never = values >= NEVER
    scaled = np.where(never, 1.0, np.minimum(values, _DAY_CAP) / _DAY_CAP)
    return scaled.astype(np.float32), never.astype(np.float32)


def _count(values: np.ndarray, scale: float) -> np.ndarray:
    return (np.minimum(values, 4 * scale) / scale).astype(np.float32)


def _days_since_last_contact(batch: CaseBatch) -> np.ndarray:
    """Offset of the most recent day with any contact in the kept history, else NEVER."""
    any_contact = batch.contacts_by_day.sum(axis=2) > 0  # (n, days)
    first = np.argmax(any_contact, axis=1)
    return np.where(any_contact.any(axis=1), first, NEVER)


def featurize(batch: CaseBatch) -> np.ndarray:
    """Observation matrix of shape (len(batch), N_FEATURES), float32, roughly in [0, 4]."""
    n = len(batch)
    original = np.maximum(batch.original_minor, 1).astype(np.float64)
    cols: list[np.ndarray] = [
        (np.log10(1.0 + np.maximum(batch.outstanding_minor, 0) / 100.0) / 5.0)[:, None],
        np.clip(batch.outstanding_minor / original, 0.0, 2.0)[:, None],
        (np.minimum(batch.days_past_due, 360) / 120.0)[:, None],
        (np.minimum(batch.tenure_months, 240) / 120.0)[:, None],
        batch.prior_on_time_ratio[:, None],
        batch.risk_score[:, None],
        batch.has_app[:, None],
        _one_hot(batch.product, len(Product)),
        _one_hot(batch.age_band, len(AgeBand)),
        _one_hot(batch.weekday, 7),
    ]
    channels = np.array([int(c) for c in CONTACT_CHANNELS])
    consent = batch.consent[:, channels]
    cols += [consent == ConsentStatus.GRANTED, consent == ConsentStatus.OPTED_OUT]
    cols.append(
        np.stack(
            [
                batch.dispute,
                batch.cease_communication,
                batch.vulnerable,
                batch.bankruptcy | batch.deceased,
                batch.mental_health_crisis,
                batch.time_barred,
                batch.hardship,
                batch.breathing_space_days_left > 0,
            ],
            axis=1,
        )
    )
    cumulative = np.cumsum(batch.contacts_by_day[:, :, channels], axis=1)  # (n, days, ch)
    windowed = np.stack([cumulative[:, w - 1, :] for w in _WINDOWS], axis=2)  # (n, ch, w)
    cols.append(_count(windowed.reshape(n, -1), 5.0))
    for days in (
        batch.days_since_conversation,
        batch.days_since_first_reminder,
        batch.days_since_first_demand,
        batch.days_since_last_payment,
        _days_since_last_contact(batch),
        batch.days_since_legal_escalation,
    ):
        scaled, never = _days(days)
        cols += [scaled[:, None], never[:, None]]
    cols.append(
        np.stack(
            [
                _count(batch.deliveries_30d, 10.0),
                _count(batch.opens_7d, 3.0),
                _count(batch.opens_30d, 10.0),
                _count(batch.clicks_30d, 5.0),
                np.clip(batch.opens_7d / 7.0 - batch.opens_30d / 30.0, -1.0, 1.0),
                _count(batch.conversations_30d, 3.0),
                _count(batch.payments_total, 3.0),
                np.clip(batch.paid_minor_total / original, 0.0, 2.0),
                _count(batch.promises_open, 1.0),
                _count(batch.promises_broken, 2.0),
                batch.plan_active,
                _count(batch.plans_broken, 1.0),
                _count(batch.complaints_total, 2.0),
                _count(batch.complaints_30d, 1.0),
            ],
            axis=1,
        )
    )
    out = np.concatenate([c.astype(np.float32, copy=False) for c in cols], axis=1)
    assert out.shape == (n, N_FEATURES), (out.shape, N_FEATURES)
    return out


__all__ = ["FEATURE_NAMES", "N_FEATURES", "feature_schema_hash", "featurize"]
