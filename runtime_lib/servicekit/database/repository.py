"""``Repository[T]`` and ``AsyncRepository[T]``: the CRUD every service rewrites.

Both classes hold their model's :class:`~servicekit.database._statements.StatementBuilder`
(composed, not inherited: its helpers are not part of a repository's API); each method
here only executes what it builds, so the two classes differ only in ``await``. Their
public API is kept identical by ``tests/runtime/test_twin_parity.py``. Changes to one
row by key (``update``, ``delete``, ``soft_delete``, ``restore``) are one statement each,
checked against the caller's version when the model has ``VersionMixin``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from servicekit.database._changes import delete_row, soft_delete_values, update_row
from servicekit.database._statements import (
    ModelT,
    SchemaT,
    StatementBuilder,
    rows_adapter,
    statements_for,
)
from servicekit.database.errors import NotFoundError

ItemT = TypeVar("ItemT")


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    """One page of results and the total number of matching rows."""

    items: Sequence[ItemT]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        """How many pages of ``size`` the total fills (0 when there are no rows)."""
        return -(-self.total // self.size)


class _RepositoryBase(Generic[ModelT]):
    """What both repositories share: the model, :attr:`query` and the statement builder."""

    model: type[ModelT]

    @property
    def query(self) -> Select[ModelT]:
        """``select(model)``, to compose custom queries on."""
        return self._statements.query

    @property
    def _statements(self) -> StatementBuilder[ModelT]:
        return statements_for(self.model)


class Repository(_RepositoryBase[ModelT]):
    """Sync repository. Subclass with ``model = YourModel``; pass a ``Session``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, ident: Any) -> ModelT | None:
        return self._statements.if_live(self.session.get(self.model, ident))

    def get_or_raise(self, ident: Any) -> ModelT:
        obj = self.get(ident)
        if obj is None:
            raise NotFoundError(self.model, ident)
        return obj

    def get_by(self, **filters: Any) -> ModelT | None:
        return self.session.scalars(self._statements.select_where(filters).limit(1)).first()

    def lock_by(self, **filters: Any) -> ModelT | None:
        """:meth:`get_by`, holding the key until the transaction ends.

        On Postgres this takes a transaction-level advisory lock on the model and
        ``filters`` (so writers of a key that has no row yet also queue up), then reads
        the row ``FOR UPDATE``: a concurrent writer of that key makes this wait for its
        commit, and the row returned is the committed one. Read a row this way before
        deciding how to change it (an upsert that reports created or updated).
        """
        key_lock = self._statements.key_lock(filters, self.session.get_bind().dialect.name)
        if key_lock is not None:
            self.session.execute(key_lock)
        return self.session.scalars(self._statements.lock_where(filters)).first()

    def exists(self, **filters: Any) -> bool:
        return bool(self.session.scalar(self._statements.exists_stmt(filters)))

    def count(self, **filters: Any) -> int:
        return self.session.scalar(self._statements.count_stmt(filters)) or 0

    def list(
        self,
        *,
        order_by: Any | None = None,
        limit: int | None = None,
        offset: int | None = None,
        **filters: Any,
    ) -> Sequence[ModelT]:
        return self.session.scalars(
            self._statements.list_stmt(order_by, limit, offset, filters)
        ).all()

    def paginate(
        self, stmt: Select[ModelT] | None = None, *, page: int = 1, size: int = 50
    ) -> Page[ModelT]:
        items_stmt, total_stmt = self._statements.page_stmts(stmt, page, size)
        items = self.session.scalars(items_stmt).all()
        return Page(items, self.session.scalar(total_stmt) or 0, page, size)

    def paginate_as(
        self,
        schema: type[SchemaT],
        stmt: Select[ModelT] | None = None,
        *,
        page: int = 1,
        size: int = 50,
    ) -> Page[SchemaT]:
        """:meth:`paginate`, reading only the columns ``schema`` names straight into
        ``schema`` instances: no ORM objects, one validation for the page."""
        items_stmt, total_stmt = self._statements.page_stmts(stmt, page, size)
        rows = self.session.execute(self._statements.projected(items_stmt, schema)).all()
        items = rows_adapter(schema).validate_python(rows, from_attributes=True)
        return Page(items, self.session.scalar(total_stmt) or 0, page, size)

    def add(self, obj: ModelT, *, flush: bool = True) -> ModelT:
        self.session.add(obj)
        if flush:
            self.session.flush()
        return obj

    def create(self, values: Mapping[str, Any]) -> ModelT:
        """One ``INSERT .. RETURNING``; returns the row as stored.

        The instance joins the session with every column as the database wrote it
        (server defaults, numbers at their column's scale), so nothing needs a refresh.
        """
        return _create_row(self.session, self._statements, values)

    def bulk_add(
        self, objs: Iterable[ModelT | Mapping[str, Any]], *, return_defaults: bool = False
    ) -> None:
        """Insert many rows in executemany batches (the Core fast path).

        The instances are not added to the session and get no generated keys; pass
        ``return_defaults=True`` to go through the unit of work instead (slower, but the
        objects become persistent with their keys filled in).
        """
        if return_defaults:
            self.session.add_all(_instances(objs))
            self.session.flush()
            return
        table: Table = self.model.__table__  # type: ignore[assignment]
        for rows in self._statements.insert_rows(objs).values():
            self.session.execute(table.insert(), rows)

    def upsert(
        self,
        values: Mapping[str, Any],
        *,
        conflict_on: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> ModelT:
        """One ``INSERT .. ON CONFLICT .. RETURNING``; returns the stored row.

        Without ``update_fields`` an existing row is left as it is (and returned).
        """
        return _upsert_row(self.session, self._statements, values, conflict_on, update_fields)

    def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        conflict_on: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> None:
        """The same upsert for many rows, executed in executemany batches."""
        dialect, statements = _dialect(self.session), self._statements
        for keys, batch in statements.insert_rows(rows).items():
            stmt = statements.upsert_stmt(
                dialect, keys, conflict_on, update_fields, returning=False
            )
            self.session.execute(stmt, batch)

    def update(
        self, ident: Any, values: Mapping[str, Any], *, expected_version: int | None = None
    ) -> ModelT:
        """Set ``values`` on one row (one ``UPDATE .. RETURNING``); returns it as stored.

        Raises :class:`NotFoundError` when no live row has that key, and
        :class:`StaleVersionError` when ``expected_version`` is given (``VersionMixin``
        models) and the row is at another version. The version is incremented.
        """
        return update_row(self.session, self._statements, ident, values, expected_version)

    def delete(self, ident: Any, *, expected_version: int | None = None) -> None:
        """Delete one row for good (a soft-deleted one too); errors as :meth:`update`."""
        delete_row(self.session, self._statements, ident, expected_version)

    def soft_delete(self, ident: Any, *, expected_version: int | None = None) -> ModelT:
        """Mark a live row deleted (``SoftDeleteMixin`` models); errors as :meth:`update`."""
        values = soft_delete_values(self.model, restore=False)
        return update_row(self.session, self._statements, ident, values, expected_version)

    def restore(self, ident: Any) -> ModelT:
        """Make a soft-deleted row live again; :class:`NotFoundError` when none is deleted."""
        values = soft_delete_values(self.model, restore=True)
        return update_row(self.session, self._statements, ident, values, None, deleted=True)


class AsyncRepository(_RepositoryBase[ModelT]):
    """Async repository. Subclass with ``model = YourModel``; pass an ``AsyncSession``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ident: Any) -> ModelT | None:
        return self._statements.if_live(await self.session.get(self.model, ident))

    async def get_or_raise(self, ident: Any) -> ModelT:
        obj = await self.get(ident)
        if obj is None:
            raise NotFoundError(self.model, ident)
        return obj

    async def get_by(self, **filters: Any) -> ModelT | None:
        return (await self.session.scalars(self._statements.select_where(filters).limit(1))).first()

    async def lock_by(self, **filters: Any) -> ModelT | None:
        """:meth:`Repository.lock_by`: ``get_by``, holding the key until the transaction ends."""
        key_lock = self._statements.key_lock(filters, self.session.get_bind().dialect.name)
        if key_lock is not None:
            await self.session.execute(key_lock)
        return (await self.session.scalars(self._statements.lock_where(filters))).first()

    async def exists(self, **filters: Any) -> bool:
        return bool(await self.session.scalar(self._statements.exists_stmt(filters)))

    async def count(self, **filters: Any) -> int:
        return await self.session.scalar(self._statements.count_stmt(filters)) or 0

    async def list(
        self,
        *,
        order_by: Any | None = None,
        limit: int | None = None,
        offset: int | None = None,
        **filters: Any,
    ) -> Sequence[ModelT]:
        stmt = self._statements.list_stmt(order_by, limit, offset, filters)
        return (await self.session.scalars(stmt)).all()

    async def paginate(
        self, stmt: Select[ModelT] | None = None, *, page: int = 1, size: int = 50
    ) -> Page[ModelT]:
        items_stmt, total_stmt = self._statements.page_stmts(stmt, page, size)
        items = (await self.session.scalars(items_stmt)).all()
        return Page(items, await self.session.scalar(total_stmt) or 0, page, size)

    async def paginate_as(
        self,
        schema: type[SchemaT],
        stmt: Select[ModelT] | None = None,
        *,
        page: int = 1,
        size: int = 50,
    ) -> Page[SchemaT]:
        """See :meth:`Repository.paginate_as`."""
        items_stmt, total_stmt = self._statements.page_stmts(stmt, page, size)
        result = await self.session.execute(self._statements.projected(items_stmt, schema))
        items = rows_adapter(schema).validate_python(result.all(), from_attributes=True)
        return Page(items, await self.session.scalar(total_stmt) or 0, page, size)

    async def add(self, obj: ModelT, *, flush: bool = True) -> ModelT:
        self.session.add(obj)
        if flush:
            await self.session.flush()
        return obj

    async def create(self, values: Mapping[str, Any]) -> ModelT:
        """See :meth:`Repository.create`."""
        return await self.session.run_sync(_create_row, self._statements, values)

    async def bulk_add(
        self, objs: Iterable[ModelT | Mapping[str, Any]], *, return_defaults: bool = False
    ) -> None:
        """See :meth:`Repository.bulk_add`."""
        if return_defaults:
            self.session.add_all(_instances(objs))
            await self.session.flush()
            return
        table: Table = self.model.__table__  # type: ignore[assignment]
        for rows in self._statements.insert_rows(objs).values():
            await self.session.execute(table.insert(), rows)

    async def upsert(
        self,
        values: Mapping[str, Any],
        *,
        conflict_on: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> ModelT:
        """See :meth:`Repository.upsert`."""
        # One greenlet switch for flush, connection, execute and load together.
        return await self.session.run_sync(
            _upsert_row, self._statements, values, conflict_on, update_fields
        )

    async def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        conflict_on: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> None:
        """See :meth:`Repository.upsert_many`."""
        dialect, statements = _dialect(self.session), self._statements
        for keys, batch in statements.insert_rows(rows).items():
            stmt = statements.upsert_stmt(
                dialect, keys, conflict_on, update_fields, returning=False
            )
            await self.session.execute(stmt, batch)

    async def update(
        self, ident: Any, values: Mapping[str, Any], *, expected_version: int | None = None
    ) -> ModelT:
        """See :meth:`Repository.update`."""
        return await self.session.run_sync(
            update_row, self._statements, ident, values, expected_version
        )

    async def delete(self, ident: Any, *, expected_version: int | None = None) -> None:
        """See :meth:`Repository.delete`."""
        await self.session.run_sync(delete_row, self._statements, ident, expected_version)

    async def soft_delete(self, ident: Any, *, expected_version: int | None = None) -> ModelT:
        """See :meth:`Repository.soft_delete`."""
        values = soft_delete_values(self.model, restore=False)
        return await self.session.run_sync(
            update_row, self._statements, ident, values, expected_version
        )

    async def restore(self, ident: Any) -> ModelT:
        """See :meth:`Repository.restore`."""
        values = soft_delete_values(self.model, restore=True)
        return await self.session.run_sync(
            partial(update_row, deleted=True), self._statements, ident, values, None
        )


def _upsert_row(
    session: Session,
    statements: StatementBuilder[ModelT],
    values: Mapping[str, Any],
    conflict_on: Sequence[str],
    update_fields: Sequence[str] | None,
) -> ModelT:
    """The upsert of both repositories, run on the sync session.

    The Core statement runs on the session's connection (same transaction), and the
    returned row is attached to the session as the ORM would have loaded it.
    """
    if session.autoflush:
        # What an ORM execution does first: pending objects may be the conflicting row.
        session.flush()
    connection = session.connection(bind_arguments={"mapper": statements.model})
    stmt = statements.upsert_stmt(
        connection.dialect.name, values, conflict_on, update_fields, returning=True
    )
    row = connection.execute(stmt, values).one()
    return statements.load_returned(session, row)


def _create_row(
    session: Session, statements: StatementBuilder[ModelT], values: Mapping[str, Any]
) -> ModelT:
    """The create of both repositories, run on the sync session (as the upsert)."""
    statements.require_columns(values)
    if session.autoflush:
        session.flush()
    connection = session.connection(bind_arguments={"mapper": statements.model})
    row = connection.execute(statements.insert_stmt(), dict(values)).one()
    return statements.load_returned(session, row)


def _dialect(session: Session | AsyncSession) -> str:
    bind = session.get_bind()
    return bind.dialect.name


def _instances(objs: Iterable[Any]) -> builtins.list[Any]:
    items = builtins.list(objs)
    if any(isinstance(obj, Mapping) for obj in items):
        raise TypeError("return_defaults=True needs model instances, not mappings")
    return items
