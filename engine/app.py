"""Wiring: build the service's parts (ledger, rules, policies, pipeline) from Settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from engine.compliance import RulesHolder
from engine.experiments.holder import ExperimentHolder, read_experiment
from engine.ledger import Ledger, open_ledger
from engine.pipeline import DecisionPipeline
from engine.reservations import Reservations
from engine.settings import Settings
from engine.telemetry import LEDGER_ERRORS
from policies.registry import load_champion, load_policy

log = logging.getLogger(__name__)


@dataclass
class ServiceComponents:
    ledger: Ledger
    rules: RulesHolder
    pipeline: DecisionPipeline
    ledger_url_safe: str
    experiment: ExperimentHolder | None = None

    def healthy(self) -> bool:
        try:
            self.ledger.ping()
        except Exception as exc:
            log.warning("ledger unreachable: %s", exc)
            LEDGER_ERRORS.labels("health").inc()
            return False
        return True

    def close(self) -> None:
        self.rules.stop_watching()
        if self.experiment is not None:
            self.experiment.stop()
        self.ledger.close()


def _prepare_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def prepare_database(url: str) -> None:
    """Create the SQLite directory if needed and apply the migrations (then close)."""
    _prepare_sqlite_dir(url)
    open_ledger(url).close()


def build_components(settings: Settings) -> ServiceComponents:
    """Open the ledger (migrations applied), load rules and policies; fail fast and clearly."""
    if settings.experiment_file is not None:
        return _build_experiment_components(settings)
    champion = load_champion(settings.policy)
    challenger = load_policy(settings.challenger_policy) if settings.challenger_policy else None
    rules = RulesHolder(settings.rules_dir)
    _prepare_sqlite_dir(settings.database_url)
    ledger = open_ledger(settings.database_url)
    if settings.rules_watch:
        rules.watch(settings.rules_poll_seconds)
    pipeline = DecisionPipeline(
        rules=rules,
        ledger=ledger,
        champion=champion,
        challenger=challenger,
        challenger_share=settings.challenger_share,
        explore=settings.explore,
        reservations=Reservations(
            ledger,
            serialise=settings.test_serialise_reservations,
            hold_s=settings.test_reservation_hold_seconds,
            hold_after_s=settings.test_commit_hold_seconds,
        ),
    )
    return ServiceComponents(
        ledger=ledger,
        rules=rules,
        pipeline=pipeline,
        ledger_url_safe=make_url(settings.database_url).render_as_string(hide_password=True),
    )


def _build_experiment_components(settings: Settings) -> ServiceComponents:
    """The service under an experiment file (TACT_EXPERIMENT_FILE)."""
    from engine.experiments.pipeline import ExperimentPipeline
    from engine.experiments.store import ExperimentStore

    assert settings.experiment_file is not None
    if settings.challenger_policy or settings.challenger_share or settings.explore:
        raise ValueError(
            "TACT_EXPERIMENT_FILE names the arms and the exploration: unset "
            "TACT_CHALLENGER_POLICY, TACT_CHALLENGER_SHARE and TACT_EXPLORE"
        )
    rules = RulesHolder(settings.rules_dir)
    first = read_experiment(settings.experiment_file)  # a bad file stops here: no database
    _prepare_sqlite_dir(settings.database_url)
    ledger = open_ledger(settings.database_url)
    store = ExperimentStore(settings.database_url)
    try:
        holder = ExperimentHolder(settings.experiment_file, store, first=first)
    except Exception:
        store.close()
        ledger.close()
        raise
    if settings.rules_watch:
        rules.watch(settings.rules_poll_seconds)
    holder.watch(settings.rules_poll_seconds, reload_file=settings.rules_watch)
    return ServiceComponents(
        ledger=ledger,
        rules=rules,
        pipeline=ExperimentPipeline(rules=rules, ledger=ledger, holder=holder),
        ledger_url_safe=make_url(settings.database_url).render_as_string(hide_password=True),
        experiment=holder,
    )
