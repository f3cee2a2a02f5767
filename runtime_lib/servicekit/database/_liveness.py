"""Connection liveness: ping a pooled connection only when it has sat idle.

SQLAlchemy's ``pool_pre_ping`` pings on every checkout. On asyncpg that ping is three
round trips (``BEGIN``, an empty statement, ``ROLLBACK``), more than the request's own
query. A connection handed back a moment ago was alive a moment ago; the ones at risk
have sat in the pool while the server restarted, a failover happened or a firewall
dropped the idle flow. So, as HikariCP does with its ``aliveBypassWindowMs``, a
connection used within the last ``pool_ping_idle_ms`` is handed out as it is, and an
older one is pinged first.

A connection that dies while in use fails its statement as before: the error is a
``DatabaseUnavailableError`` (a 503 in a service), and SQLAlchemy invalidates the
whole pool on a disconnect, so the next checkout of each older connection reconnects.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# Where a pooled connection's record keeps the time it was last handed back.
_RETURNED_AT = "servicekit.returned_at"


def install_ping_after_idle(engine: Engine, idle_ms: int) -> None:
    """Ping connections that sat in ``engine``'s pool for ``idle_ms`` or longer."""
    idle_seconds = idle_ms / 1000
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _note_return(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return  # just opened, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            # The pool's own protocol: it discards this connection and checks out (or
            # opens) another, as pre-ping does.
            raise exc.DisconnectionError(str(error)) from error
