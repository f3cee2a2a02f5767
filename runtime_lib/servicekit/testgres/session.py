"""What a testgres-enabled test session holds: its configuration, servers and databases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import MetaData
from sqlalchemy.engine import URL, make_url

from servicekit.testgres.databases import DatabaseFactory
from servicekit.testgres.servers import RedisMode, Server
from servicekit.testgres.transactions import TestTransaction

Isolation = Literal["transaction", "database"]


@dataclass
class TestgresConfig:
    """What ``setup()`` was asked for."""

    __test__ = False

    metadata: MetaData | None
    async_mode: bool = False
    redis_mode: RedisMode = False
    schemas: tuple[str, ...] = ()
    uri: str | None = None
    migrate: Callable[[str], None] | None = None
    isolation: Isolation = "database"


@dataclass
class TestgresSession:
    """The servers and template database of one test session.

    With a ``pgbouncer`` (``DB_POOLER=pgbouncer``), tests reach their databases through
    it (:meth:`url`) while ``databases`` creates, clones and drops them on the server.
    """

    __test__ = False

    postgres: Server
    databases: DatabaseFactory
    redis: Server | None = None
    pgbouncer: Server | None = None
    _transactions: TestTransaction | None = None

    def url(self, database: str) -> URL:
        """A psycopg URL for ``database`` as tests reach it: through the session's
        PgBouncer when there is one, else on the server (``databases.url(database)``)."""
        direct = self.databases.url(database)
        if self.pgbouncer is None:
            return direct
        pooler = make_url(self.pgbouncer.url)
        return direct.set(
            host=pooler.host,
            port=pooler.port,
            username=pooler.username or direct.username,
            password=pooler.password if pooler.username else direct.password,
        )

    def transactions(self, *, async_mode: bool) -> TestTransaction:
        """Outer transactions on a database cloned once for the session's transactional
        tests (not on the template: a connection to it would stop further clones)."""
        if self._transactions is None:
            url = self.url(self.databases.clone())
            self._transactions = TestTransaction(url, async_mode=async_mode)
        return self._transactions

    def close(self) -> None:
        if self._transactions is not None:
            self._transactions.close()
        if self.pgbouncer is not None:
            self.pgbouncer.close()  # before the drops: its server connections go first
        self.databases.close()
        self.postgres.close()
        if self.redis is not None:
            self.redis.close()
