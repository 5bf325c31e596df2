"""Service configuration: one pydantic-settings class, every field a ``TACT_*`` variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Settings of ``tact serve``; the README's configuration table lists every field (a test
    checks it)."""

    model_config = SettingsConfigDict(env_prefix="TACT_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the gRPC server binds to.")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free port.")
    database_url: str = Field(
        f"sqlite:///{REPO_ROOT / 'var' / 'tact.db'}",
        description="SQLAlchemy URL of the ledger: SQLite file (default) or "
        "postgresql+psycopg://user@host/db for several replicas.",
    )
    rules_dir: Path = Field(REPO_ROOT / "rules", description="Directory of the rule files.")
    rules_watch: bool = Field(True, description="Reload rule files when they change on disk.")
    rules_poll_seconds: float = Field(2.0, gt=0, description="How often to look for rule edits.")
    policy: str = Field(
        "default",
        description="Champion policy: 'default' (the champion, best-simple; see "
        "policies.registry.DEFAULT_POLICY), 'rl:default' (the shipped RL model), 'ladder', "
        "'segmented', "
        "'random', 'rl:<model name or path>', 'simple:<spec>' or 'best-simple[:<scenario>]'.",
    )
    challenger_policy: str | None = Field(
        None, description="Optional challenger policy, same syntax as TACT_POLICY."
    )
    challenger_share: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of cases (by case_id hash) given to the challenger."
    )
    explore: bool = Field(
        False,
        description="Draw treatments from the policy's distribution instead of taking its "
        "best one, logging true propensities for off-policy evaluation.",
    )
    experiment_file: Path | None = Field(
        None,
        description="Experiment file (YAML: champion, challengers with shares, shadows, "
        "exploration, guardrails; docs/experiments.md); replaces TACT_POLICY, "
        "TACT_CHALLENGER_* and TACT_EXPLORE, reloaded like the rules.",
    )
    workers: int = Field(16, ge=1, le=256, description="gRPC worker threads per process.")
    processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes sharing the port (SO_REUSEPORT): Python decides on "
        "one core per process. More than 1 needs a fixed port.",
    )
    decide_group_size: int = Field(
        32,
        ge=1,
        le=4096,
        description="Decide: concurrent calls decided and committed together, at most this "
        "many (1 = one at a time). A lone call is never delayed.",
    )
    stream_batch_size: int = Field(
        128, ge=1, le=4096, description="DecideStream: cases decided and committed together."
    )
    grace_seconds: float = Field(5.0, ge=0, description="Graceful shutdown grace period.")
    test_serialise_reservations: bool = Field(
        True,
        description="TESTS ONLY, never turn off in production: serialise each decision's "
        "ledger re-read with its contact reservation per case (engine.reservations). Off, "
        "concurrent decisions for one case can both pass a contact limit.",
    )
    test_reservation_hold_seconds: float = Field(
        0.0,
        ge=0,
        le=10,
        description="TESTS ONLY: wait this long between deciding and storing a group of "
        "decisions, so that tests can make concurrent decisions for one case overlap.",
    )
    test_commit_hold_seconds: float = Field(
        0.0,
        ge=0,
        le=10,
        description="TESTS ONLY: wait this long after a group of decisions is stored, "
        "before it is answered, so that tests can kill a replica between a commit and "
        "its reply.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="'json': one JSON object per line (time, level, logger, message, rpc, "
        "status, decision id, trace id); never personal data.",
    )
    tls_cert: Path | None = Field(
        None, description="PEM server certificate (chain); with TACT_TLS_KEY turns TLS on."
    )
    tls_key: Path | None = Field(None, description="PEM private key of TACT_TLS_CERT.")
    tls_client_ca: Path | None = Field(
        None,
        description="PEM CA bundle: clients must present a certificate it signed (mutual TLS).",
    )
    auth_tokens_file: Path | None = Field(
        None,
        description="YAML 'tokens: [{name, sha256, scopes}]': bearer tokens (their sha256 hex) "
        "and scopes (decide, events, admin); re-read when it changes.",
    )
    auth_tokens: str | None = Field(
        None,
        description="The YAML of a tokens file itself (e.g. from a secret), instead of "
        "TACT_AUTH_TOKENS_FILE; read at start only.",
    )
    auth_open_health: bool = Field(
        True, description="Health checks and server reflection answer without a token."
    )
    allow_unauthenticated: bool = Field(
        False,
        description="Serve without TACT_AUTH_TOKENS_FILE on an address other than loopback.",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Prometheus /metrics port (on TACT_HOST); unset: no metrics endpoint.",
    )
    http_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="JSON/HTTP door port (Connect protocol unary calls); unset: gRPC only.",
    )
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none",
        description="OpenTelemetry traces: 'otlp' (OTEL_EXPORTER_OTLP_ENDPOINT, default "
        "localhost:4317), 'console' (stderr) or 'none' (no spans exported).",
    )
