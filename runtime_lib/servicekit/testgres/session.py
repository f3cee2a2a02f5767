"""What a testgres-enabled test session holds: its configuration, servers and databases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import MetaData

from servicekit.testgres.databases import DatabaseFactory
from servicekit.testgres.servers import RedisMode, Server


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


@dataclass
class TestgresSession:
    """The servers and template database of one test session."""

    __test__ = False

    postgres: Server
    databases: DatabaseFactory
    redis: Server | None = None

    def close(self) -> None:
        self.databases.close()
        self.postgres.close()
        if self.redis is not None:
            self.redis.close()
