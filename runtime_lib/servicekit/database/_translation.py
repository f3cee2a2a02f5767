"""The driver's outage, timeout and conflict errors, raised as servicekit's own types.

:func:`install_error_translation` hooks an engine (``bind()``/``async_bind()`` call it):
SQLAlchemy hands every DBAPI error to ``handle_error``, whose returned exception replaces
it, with the original as ``__cause__``; SQLAlchemy still invalidates a broken connection
first, so the pool recovers by itself. asyncpg raises a refused or timed-out connect as a
plain ``OSError``/``TimeoutError`` that never reaches that hook, so connecting goes
through ``do_connect`` as well. Everything else (constraint violations, bad SQL) is left
as SQLAlchemy raised it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, ExceptionContext
from sqlalchemy.pool import ConnectionPoolEntry

from servicekit.errors import (
    DatabaseError,
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    RetryableConflictError,
)

__all__ = ["install_error_translation", "translated"]

# SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_CONFLICTS = {"40001": "serialization failure", "40P01": "deadlock detected"}
_TIMEOUTS = {
    "57014": "statement timeout",  # query_canceled: statement_timeout or a cancel
    "55P03": "lock timeout",  # lock_not_available
    "25P03": "idle in transaction timeout",
}
_UNAVAILABLE = {
    "57P01": "the server is shutting down",  # admin_shutdown
    "57P02": "the server crashed",  # crash_shutdown
    "57P03": "the server is starting up",  # cannot_connect_now
    "53300": "too many connections",
}


def translated(error: BaseException, *, statement: str | None = None) -> DatabaseError | None:
    """The servicekit error ``error`` stands for, or ``None`` for any other error.

    ``error`` is the driver's exception (or a ``sqlalchemy.exc.DBAPIError`` around it);
    ``statement`` is the SQL it came from, if any: a broken link with no statement may
    have been a ``COMMIT``, which makes a :class:`DatabaseUnavailableError` ambiguous.
    """
    original = getattr(error, "orig", None) or error
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    message = _first_line(original)
    if state in _CONFLICTS:
        return RetryableConflictError(f"{_CONFLICTS[state]}: {message}")
    if state in _TIMEOUTS:
        return DatabaseTimeoutError(f"{_TIMEOUTS[state]}: {message}")
    if state == "08P01" and "unsupported startup parameter" in message:
        return None  # PgBouncer refusing a setting: a configuration error (see DB_POOLER)
    if state in _UNAVAILABLE or (state or "").startswith("08"):
        reason = _UNAVAILABLE.get(state or "", "connection failure")
        return DatabaseUnavailableError(
            f"database unavailable ({reason}): {message}", ambiguous=statement is None
        )
    return None


def install_error_translation(engine: Engine) -> None:
    """Make ``engine`` raise :class:`DatabaseUnavailableError`, :class:`DatabaseTimeoutError`
    and :class:`RetryableConflictError` instead of the driver's errors."""
    event.listen(engine, "handle_error", _handle_error)
    event.listen(engine, "do_connect", _connect)


def _handle_error(context: ExceptionContext) -> BaseException | None:
    if context.is_pre_ping:
        return None  # the pool reconnects by itself: nothing to tell the caller yet
    error = context.original_exception
    typed = translated(error, statement=context.statement)
    if typed is None and context.is_disconnect:
        typed = DatabaseUnavailableError(
            f"database unavailable (connection lost): {_first_line(error)}",
            ambiguous=context.statement is None,
        )
    return typed


def _connect(
    dialect: Dialect, _record: ConnectionPoolEntry, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    try:
        return dialect.connect(*cargs, **cparams)
    except (OSError, TimeoutError) as exc:  # asyncpg's refused or timed-out connect
        raise _cannot_connect(exc) from exc
    except dialect.loaded_dbapi.OperationalError as exc:
        # A refusal by a running server (a missing database, an unknown role, a bad
        # password) is a configuration error, left as it is: retrying cannot cure it.
        typed = translated(exc)
        if typed is None and not _refused_by_a_running_server(exc):
            typed = _cannot_connect(exc)
        if typed is None:
            raise
        raise typed from exc


# libpq gives the server's refusal of a connection as text only ("... failed: FATAL:
# database "x" does not exist"), with no SQLSTATE. These FATALs mean "not now", not "no".
_NOT_NOW = ("the database system is", "too many clients", "connection slots are reserved")


def _refused_by_a_running_server(error: BaseException) -> bool:
    if getattr(error, "sqlstate", None) is not None:
        return True  # asyncpg: the server's own error, with its code
    message = str(error)
    return "FATAL:" in message and not any(reason in message for reason in _NOT_NOW)


def _cannot_connect(error: BaseException) -> DatabaseUnavailableError:
    return DatabaseUnavailableError(f"database unavailable (cannot connect): {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
