"""Changes to one row by primary key: update, delete, soft delete and restore.

Each is one ``UPDATE``/``DELETE .. WHERE <key> [AND version = :expected] RETURNING``
on the session's connection (its transaction), run on the sync session so both
repositories share it (the async one through ``run_sync``). Only when nothing matched
does a second query ask why, to raise :class:`NotFoundError` or
:class:`StaleVersionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, inspect, select, update
from sqlalchemy.orm import DeclarativeBase, Mapper, Session

from servicekit.database._statements import (
    ModelT,
    StatementBuilder,
    is_soft_deletable,
    key_values,
    version_column,
)
from servicekit.database.base import utcnow
from servicekit.errors import NotFoundError, StaleVersionError

__all__ = ["delete_row", "update_row"]


def update_row(
    session: Session,
    statements: StatementBuilder[ModelT],
    ident: Any,
    values: Mapping[str, Any],
    expected_version: int | None,
    *,
    deleted: bool | None = False,
) -> ModelT:
    """Set ``values`` on the row ``ident`` and return it as stored.

    ``deleted`` says which rows qualify on a soft-deletable model: ``False`` live ones,
    ``True`` deleted ones (restore), ``None`` either.
    """
    model = statements.model
    statements.require_columns(values)
    _flush_pending(session)
    table = _table(model)
    assignments: dict[str, Any] = dict(values)
    version = version_column(model)
    if version is not None:
        assignments[version.key] = version + 1
    stmt = (
        update(table)
        .where(*_matching(statements, ident, expected_version, deleted))
        .values(assignments)
        .returning(*table.c)
    )
    connection = session.connection(bind_arguments={"mapper": model})
    row = connection.execute(stmt).one_or_none()
    if row is None:
        raise _why_nothing_matched(session, statements, ident, expected_version, deleted)
    return statements.load_returned(session, row)


def soft_delete_values(model: type[DeclarativeBase], *, restore: bool) -> dict[str, Any]:
    """The assignment that marks a row deleted (now) or live again."""
    if not is_soft_deletable(model):
        raise TypeError(f"{model.__name__} has no deleted_at: add SoftDeleteMixin")
    return {"deleted_at": None if restore else utcnow()}


def delete_row(
    session: Session,
    statements: StatementBuilder[ModelT],
    ident: Any,
    expected_version: int | None,
) -> None:
    """Delete the row ``ident`` for good (a soft-deleted one too)."""
    model = statements.model
    _flush_pending(session)
    table = _table(model)
    stmt = delete(table).where(*_matching(statements, ident, expected_version, None))
    connection = session.connection(bind_arguments={"mapper": model})
    if connection.execute(stmt.returning(*_key_columns(model))).first() is None:
        raise _why_nothing_matched(session, statements, ident, expected_version, None)
    # The session may hold the row: it must not be flushed back or returned by get().
    held = session.identity_map.get(_mapper(model).identity_key_from_primary_key(key_values(ident)))
    if held is not None:
        session.expunge(held)


def _matching(
    statements: StatementBuilder[ModelT],
    ident: Any,
    expected_version: int | None,
    deleted: bool | None,
) -> list[ColumnElement[bool]]:
    model = statements.model
    criteria = [
        column == value
        for column, value in zip(_key_columns(model), key_values(ident), strict=True)
    ]
    if deleted is not None and is_soft_deletable(model):
        column = _table(model).c.deleted_at
        criteria.append(column.is_not(None) if deleted else column.is_(None))
    version = version_column(model)
    if expected_version is not None:
        if version is None:
            raise TypeError(f"{model.__name__} has no version column: add VersionMixin")
        criteria.append(version == expected_version)
    return criteria


def _why_nothing_matched(
    session: Session,
    statements: StatementBuilder[ModelT],
    ident: Any,
    expected_version: int | None,
    deleted: bool | None,
) -> Exception:
    """:class:`NotFoundError` or, when the row is there at another version, stale."""
    model = statements.model
    version = version_column(model)
    if expected_version is None or version is None:
        return NotFoundError(model, ident)
    stmt = select(version).where(*_matching(statements, ident, None, deleted))
    current = session.connection(bind_arguments={"mapper": model}).scalar(stmt)
    if current is None:
        return NotFoundError(model, ident)
    return StaleVersionError(model, ident, expected_version, current)


def _flush_pending(session: Session) -> None:
    # What an ORM execution does first: pending changes may touch the same row.
    if session.autoflush:
        session.flush()


def _key_columns(model: type[DeclarativeBase]) -> tuple[Any, ...]:
    return tuple(_mapper(model).primary_key)


def _mapper(model: type[DeclarativeBase]) -> Mapper[Any]:
    return cast("Mapper[Any]", inspect(model))


def _table(model: type[DeclarativeBase]) -> Table:
    return cast("Table", model.__table__)
