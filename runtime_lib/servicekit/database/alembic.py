"""Alembic glue: ``run_migrations(Base.metadata)`` is the whole of a service's ``env.py``.

Online runs take a Postgres advisory lock inside the migration transaction, so that
replicas starting together apply each revision exactly once: the first one migrates,
the others wait for the lock, then find the database already at head.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.types import TypeDecorator

from servicekit.database._options import pooler_connect_args
from servicekit.database._url import normalize_url
from servicekit.database.errors import NotBoundError
from servicekit.database.settings import EngineSettings

if TYPE_CHECKING:
    from sqlalchemy import MetaData

_ASYNC_DRIVERS = frozenset({"asyncpg", "aiosqlite", "psycopg_async"})


def migration_lock_key(version_table: str = "alembic_version") -> int:
    """The advisory-lock key migrations hold: stable across processes and releases."""
    digest = hashlib.blake2b(f"servicekit.alembic:{version_table}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def run_migrations(
    target_metadata: MetaData, *, url: str | URL | None = None, **configure_options: Any
) -> None:
    """Run Alembic offline or online for ``target_metadata``; call it from ``env.py``.

    The URL comes from ``url``, else ``$DATABASE_URL``, else ``sqlalchemy.url`` in
    ``alembic.ini``. A URL naming an async driver (``postgresql+asyncpg``,
    ``sqlite+aiosqlite``) runs on an async engine, any other on a sync one; both use
    ``NullPool`` so a migration job holds no idle connections. ``configure_options`` go
    to ``context.configure``. Logging is left exactly as the application set it up.
    """
    from alembic import context

    target = _migration_url(url, context.config.get_main_option("sqlalchemy.url"))
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "render_item": render_item,
        "compare_type": True,
        "render_as_batch": target.get_backend_name() == "sqlite",
    }
    if target_metadata.schema:
        options["version_table_schema"] = target_metadata.schema
        options["include_schemas"] = True
    options.update(configure_options)

    if context.is_offline_mode():
        context.configure(
            url=target, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    lock_key = migration_lock_key(options.get("version_table", "alembic_version"))

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
                if target_metadata.schema:
                    # Alembic writes its version table into the schema before the first
                    # revision could create it.
                    quoted = connection.dialect.identifier_preparer.quote_schema(
                        target_metadata.schema
                    )
                    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
            context.run_migrations()

    if target.get_driver_name() in _ASYNC_DRIVERS:
        asyncio.run(_migrate_async(target, migrate))
        return
    engine = create_engine(target, poolclass=pool.NullPool, connect_args=_pooler_args(target))
    try:
        with engine.connect() as connection:
            migrate(connection)
    finally:
        engine.dispose()


async def _migrate_async(target: URL, migrate: Any) -> None:
    engine = create_async_engine(target, poolclass=pool.NullPool, connect_args=_pooler_args(target))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
    finally:
        await engine.dispose()


def _pooler_args(target: URL) -> dict[str, Any]:
    # Behind PgBouncer (DB_POOLER) migrations need the same driver settings as the app;
    # the advisory lock above is transaction-level, which transaction pooling keeps.
    return pooler_connect_args(target, EngineSettings.from_env())


def render_item(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """Render wrapper types (``UTCDateTime``, ...) as the SQLAlchemy type they store as.

    A migration must not import application code: the revision should still run after
    the model or the type moved. Everything else keeps Alembic's default rendering.
    """
    if kind == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy.sql"):
            return f"sa.{impl!r}"
    return False


def _migration_url(explicit: str | URL | None, ini_url: str | None) -> URL:
    raw = explicit or os.environ.get("DATABASE_URL") or ini_url
    if not raw:
        raise NotBoundError(
            "no database URL for migrations: set DATABASE_URL or sqlalchemy.url in alembic.ini"
        )
    parsed = make_url(raw) if isinstance(raw, str) else raw
    # Keep an explicitly async driver; bare postgres:// and friends migrate synchronously.
    is_async = parsed.get_driver_name() in _ASYNC_DRIVERS
    return normalize_url(parsed, is_async=is_async)
