"""What a testgres-enabled test session holds: its configuration, servers and databases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import MetaData

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
    """The servers and template database of one test session."""

    __test__ = False

    postgres: Server
    databases: DatabaseFactory
    redis: Server | None = None
    _transactions: TestTransaction | None = None

    def transactions(self, *, async_mode: bool) -> TestTransaction:
        """Outer transactions on a database cloned once for the session's transactional
        tests (not on the template: a connection to it would stop further clones)."""
        if self._transactions is None:
            url = self.databases.url(self.databases.clone())
            self._transactions = TestTransaction(url, async_mode=async_mode)
        return self._transactions

    def close(self) -> None:
        if self._transactions is not None:
            self._transactions.close()
        self.databases.close()
        self.postgres.close()
        if self.redis is not None:
            self.redis.close()
