"""Row readers: reads straight into response schemas, without a session.

A read endpoint needs no unit of work: no identity map, no ORM objects, no transaction.
:class:`AsyncRowReader` runs each read as one statement on a pooled connection and
validates the rows into the schema the endpoint returns, selecting only the columns
that schema names::

    Reader = Annotated[AsyncRowReader, Depends(fastapi_async_row_reader)]

    @router.get("/{item_id}")
    async def get_product(item_id: int, reader: Reader) -> ProductRead:
        return await reader.get_as_or_raise(ProductRead, Product, item_id)

Where the rows need no SQLAlchemy processing (see ``servicekit.database._driver``) and
the bind allows it, an async reader on asyncpg runs the statement on the driver's own
connection, compiled once per statement shape: about half the Python work of the same
read through a session. Otherwise, and always for the sync :class:`RowReader`, the
statement runs in a read session (:func:`~servicekit.database.read_session`), so a
reader is never less than a read session is: the replica when one is bound, the test's
transaction under testgres, a transaction per read behind PgBouncer (where the
timeouts are set per transaction). A read checks a connection out, reads and returns
it: the rows of two reads may come from two snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, partial
from typing import Any

from sqlalchemy import Select, bindparam, func
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.database import engine as primary
from servicekit.database import replica
from servicekit.database._driver import driver_engine, fetch_all, planner_of
from servicekit.database._statements import (
    ModelT,
    SchemaT,
    StatementBuilder,
    key_values,
    page_offset,
    rows_adapter,
    statements_for,
)
from servicekit.database.repository import Page
from servicekit.errors import NotFoundError

__all__ = ["AsyncRowReader", "RowReader", "fastapi_async_row_reader", "fastapi_row_reader"]

Rows = list[dict[str, Any]]


class RowReader:
    """Sync reads into schemas, each in a read session of its own."""

    def query(self, model: type[ModelT]) -> Select[ModelT]:
        """``select(model)`` over its live rows, to compose a read on."""
        return statements_for(model).query

    def get_as(self, schema: type[SchemaT], model: type[ModelT], ident: Any) -> SchemaT | None:
        """The live row of ``model`` whose primary key is ``ident``, as ``schema``."""
        values = key_values(ident)
        stmt = _keyed_statement(model, schema, len(values))
        with replica.read_session() as session:
            rows = _mappings(session.execute(stmt, _key_parameters(values)))
        return schema.model_validate(rows[0]) if rows else None

    def get_as_or_raise(self, schema: type[SchemaT], model: type[ModelT], ident: Any) -> SchemaT:
        """:meth:`get_as`; :class:`NotFoundError` when there is no such row."""
        found = self.get_as(schema, model, ident)
        if found is None:
            raise NotFoundError(model, ident)
        return found

    def all_as(self, schema: type[SchemaT], stmt: Select[Any]) -> list[SchemaT]:
        """Every row ``stmt`` selects, as ``schema`` (only the columns it names are read)."""
        (rows,) = self._read(_projected(stmt, schema))
        return rows_adapter(schema).validate_python(rows)

    def paginate_as(
        self, schema: type[SchemaT], stmt: Select[Any], *, page: int = 1, size: int = 50
    ) -> Page[SchemaT]:
        """One page of ``stmt``'s rows as ``schema``, and the total (see ``_paged``)."""
        (rows,) = self._read(_paged(stmt, schema, size, page_offset(page, size)))
        past_the_end = not rows and page > 1  # no row to carry the total
        total = _count(self._read(_count_statement(stmt))[0]) if past_the_end else _total(rows)
        return Page(rows_adapter(schema).validate_python(rows), total, page, size)

    def _read(self, *statements: Select[Any]) -> list[Rows]:
        with replica.read_session() as session:
            return [_mappings(session.execute(stmt)) for stmt in statements]


class AsyncRowReader:
    """The async twin of :class:`RowReader`, on the driver's connection where it can be."""

    def query(self, model: type[ModelT]) -> Select[ModelT]:
        """``select(model)`` over its live rows, to compose a read on."""
        return statements_for(model).query

    async def get_as(
        self, schema: type[SchemaT], model: type[ModelT], ident: Any
    ) -> SchemaT | None:
        """The live row of ``model`` whose primary key is ``ident``, as ``schema``."""
        values = key_values(ident)
        stmt = _keyed_statement(model, schema, len(values))
        engine = _driver_engine()
        if engine is not None:
            plan = planner_of(engine).plan_fixed(stmt, _key_names(len(values)))
            if plan is not None:
                (rows,) = await fetch_all(engine, [(plan, plan.arguments(values))])
                return schema.model_validate(rows[0]) if rows else None
        async with replica.async_read_session() as session:
            rows = _mappings(await session.execute(stmt, _key_parameters(values)))
        return schema.model_validate(rows[0]) if rows else None

    async def get_as_or_raise(
        self, schema: type[SchemaT], model: type[ModelT], ident: Any
    ) -> SchemaT:
        """:meth:`get_as`; :class:`NotFoundError` when there is no such row."""
        found = await self.get_as(schema, model, ident)
        if found is None:
            raise NotFoundError(model, ident)
        return found

    async def all_as(self, schema: type[SchemaT], stmt: Select[Any]) -> list[SchemaT]:
        """Every row ``stmt`` selects, as ``schema`` (only the columns it names are read)."""
        (rows,) = await self._read(_projected(stmt, schema))
        return rows_adapter(schema).validate_python(rows)

    async def paginate_as(
        self, schema: type[SchemaT], stmt: Select[Any], *, page: int = 1, size: int = 50
    ) -> Page[SchemaT]:
        """One page of ``stmt``'s rows as ``schema``, and the total (see ``_paged``)."""
        rows = await self._read_page(stmt, schema, size, page_offset(page, size))
        past_the_end = not rows and page > 1  # no row to carry the total
        if past_the_end:
            total = _count((await self._read(_count_statement(stmt)))[0])
        else:
            total = _total(rows)
        return Page(rows_adapter(schema).validate_python(rows), total, page, size)

    async def _read(self, *statements: Select[Any]) -> list[Rows]:
        engine = _driver_engine()
        if engine is not None:
            planner = planner_of(engine)
            plans = [planner.plan(stmt) for stmt in statements]
            if all(plan is not None for plan in plans):
                return await fetch_all(engine, list(filter(None, plans)))
        return await _read_in_session(*statements)

    async def _read_page(
        self, stmt: Select[Any], schema: type[SchemaT], size: int, offset: int
    ) -> Rows:
        # On the driver path the page's statement is derived from stmt's shape once: a
        # request only keys stmt, where building and keying the page would cost as much.
        engine = _driver_engine()
        if engine is not None:
            planned = planner_of(engine).plan_derived(
                ("page", schema), stmt, (size, offset), partial(_paged_by, schema=schema)
            )
            if planned is not None:
                (rows,) = await fetch_all(engine, [planned])
                return rows
        (rows,) = await _read_in_session(_paged(stmt, schema, size, offset))
        return rows


async def _read_in_session(*statements: Select[Any]) -> list[Rows]:
    async with replica.async_read_session() as session:
        return [_mappings(await session.execute(stmt)) for stmt in statements]


_sync_reader = RowReader()
_async_reader = AsyncRowReader()


def fastapi_row_reader() -> RowReader:
    """FastAPI dependency: the process's :class:`RowReader`."""
    return _sync_reader


async def fastapi_async_row_reader() -> AsyncRowReader:
    """Async FastAPI dependency: the process's :class:`AsyncRowReader` (a plain ``async``
    function rather than a generator: FastAPI resolves it without an exit stack)."""
    return _async_reader


def _driver_engine() -> AsyncEngine | None:
    """The engine whose asyncpg connections a read may use directly, if any."""
    return driver_engine(replica._replicas["async"] or primary._engines["async"])


@cache
def _keyed_statement(model: type[ModelT], schema: type[SchemaT], width: int) -> Select[Any]:
    """The read of one row by a key of ``width`` columns (made once per model and schema)."""
    parameters: tuple[Any, ...] = tuple(bindparam(name) for name in _key_names(width))
    return _projected(statements_for(model).by_key(parameters), schema)


@cache
def _key_names(width: int) -> tuple[str, ...]:
    return tuple(f"key_{i}" for i in range(width))


def _key_parameters(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_key_names(len(values)), values, strict=True))


def _projected(stmt: Select[Any], schema: type[SchemaT]) -> Select[Any]:
    return _statements_of(stmt).projected(stmt, schema)


def _paged(stmt: Select[Any], schema: type[SchemaT], limit: Any, offset: Any) -> Select[Any]:
    """The page's rows, each with the total of matching rows (``count(*) OVER ()``: one
    statement, as advanced-alchemy's ``list_and_count`` does). A page past the end has
    no row to carry the total: :func:`_count_statement` counts it apart."""
    builder = _statements_of(stmt)
    items = builder.projected(stmt.limit(limit).offset(offset), schema)
    return items.add_columns(_TOTAL_COLUMN)


def _paged_by(stmt: Select[Any], parameters: tuple[Any, ...], *, schema: type[Any]) -> Select[Any]:
    limit, offset = parameters
    return _paged(stmt, schema, limit, offset)


def _count_statement(stmt: Select[Any]) -> Select[int]:
    return _statements_of(stmt).count_of(stmt)


# The total that rides along with each row of a page, and its label.
_TOTAL = "servicekit_total"
_TOTAL_COLUMN = func.count().over().label(_TOTAL)


def _total(rows: Rows) -> int:
    """The total the rows carry, taken out of them (0 for an empty first page)."""
    total = 0
    for row in rows:
        total = row.pop(_TOTAL)
    return int(total)


def _statements_of(stmt: Select[Any]) -> StatementBuilder[Any]:
    model = stmt.column_descriptions[0].get("entity")
    if model is None:
        raise ValueError("a row reader reads a statement that selects a mapped model")
    return statements_for(model)


def _mappings(result: Any) -> Rows:
    return [dict(row) for row in result.mappings()]


def _count(rows: Sequence[Mapping[str, Any]]) -> int:
    return int(next(iter(rows[0].values()))) if rows else 0
