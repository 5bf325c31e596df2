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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
