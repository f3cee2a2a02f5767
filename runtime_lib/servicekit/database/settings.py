"""Engine settings: production defaults, read from the environment, overridable."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from servicekit._env import env_bool, env_int, env_str
from servicekit.errors import ConfigurationError


def _application_name() -> str:
    # Managed platforms name the workload themselves; prefer their name so that
    # pg_stat_activity shows the deployed service, not a generic default.
    for variable in ("K_SERVICE", "AWS_LAMBDA_FUNCTION_NAME", "APP_NAME"):
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return "servicekit"


# What may sit between the service and Postgres. "pgbouncer" means transaction pooling:
# no startup parameters beyond application_name, no prepared statement outliving its
# transaction. Said by a setting, not guessed: a pooler is indistinguishable from a
# server until a second transaction lands on another backend.
POOLERS = ("none", "pgbouncer")

SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Everything :func:`~servicekit.database.bind` tunes on an engine.

    Build it with :meth:`from_env`; every field can also be passed to ``bind()`` /
    ``async_bind()`` as a keyword, which wins over the environment.
    """

    application_name: str = "servicekit"
    pool_size: int = 10
    max_overflow: int = 0
    pool_timeout: int = 10
    pool_recycle: int = 1800
    pool_use_lifo: bool = True
    pool_pre_ping: bool = True
    pool_ping_idle_ms: int = 1000
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 2000
    idle_in_tx_timeout_ms: int = 10000
    connect_timeout: int = 10
    echo: bool = False
    pooler: str = "none"

    def __post_init__(self) -> None:
        if self.pooler not in POOLERS:
            raise ConfigurationError(
                f"DB_POOLER must be one of {', '.join(POOLERS)}, got {self.pooler!r}"
            )

    @classmethod
    def from_env(cls) -> EngineSettings:
        """Read ``APP_NAME`` / ``K_SERVICE`` / ``AWS_LAMBDA_FUNCTION_NAME`` and ``DB_*``."""
        d = cls()
        return cls(
            application_name=_application_name(),
            pool_size=env_int("DB_POOL_SIZE", d.pool_size),
            max_overflow=env_int("DB_MAX_OVERFLOW", d.max_overflow),
            pool_timeout=env_int("DB_POOL_TIMEOUT", d.pool_timeout),
            pool_recycle=env_int("DB_POOL_RECYCLE", d.pool_recycle),
            pool_use_lifo=env_bool("DB_POOL_USE_LIFO", d.pool_use_lifo),
            pool_pre_ping=env_bool("DB_POOL_PRE_PING", d.pool_pre_ping),
            pool_ping_idle_ms=env_int("DB_POOL_PING_IDLE_MS", d.pool_ping_idle_ms),
            statement_timeout_ms=env_int("DB_STATEMENT_TIMEOUT_MS", d.statement_timeout_ms),
            lock_timeout_ms=env_int("DB_LOCK_TIMEOUT_MS", d.lock_timeout_ms),
            idle_in_tx_timeout_ms=env_int("DB_IDLE_IN_TX_TIMEOUT_MS", d.idle_in_tx_timeout_ms),
            echo=env_bool("DB_ECHO", d.echo),
            pooler=env_str("DB_POOLER", d.pooler).strip().lower(),
        )

    def with_overrides(self, overrides: dict[str, Any]) -> tuple[EngineSettings, dict[str, Any]]:
        """Split ``overrides`` into setting fields (applied) and other engine kwargs."""
        names = {field.name for field in dataclasses.fields(self)}
        own = {key: value for key, value in overrides.items() if key in names}
        rest = {key: value for key, value in overrides.items() if key not in names}
        return dataclasses.replace(self, **own), rest

    @property
    def behind_pgbouncer(self) -> bool:
        return self.pooler == "pgbouncer"

    def timeouts(self) -> dict[str, str]:
        """The server's timeouts, in milliseconds."""
        return {
            "statement_timeout": str(self.statement_timeout_ms),
            "lock_timeout": str(self.lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(self.idle_in_tx_timeout_ms),
        }

    def server_settings(self) -> dict[str, str]:
        """Postgres run-time parameters every connection starts with.

        Behind PgBouncer only ``application_name``: PgBouncer refuses (or, configured to
        ignore them, silently drops) any other startup parameter, so the timeouts are set
        per transaction instead (see ``_options.py``) and keepalives are PgBouncer's.
        """
        if self.behind_pgbouncer:
            return {"application_name": self.application_name}
        return {
            "application_name": self.application_name,
            **self.timeouts(),
            # The server probes an idle connection after 30 s and drops it after three
            # unanswered probes 10 s apart: a client that vanished (failover, NAT) frees
            # its backend in about a minute instead of the kernel's two hours. Set on the
            # server side because asyncpg has no client-side keepalive settings.
            **SERVER_KEEPALIVES,
        }
