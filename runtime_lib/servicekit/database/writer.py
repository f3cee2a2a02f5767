"""Row writers: a create that answers with its response schema, without a session.

A create endpoint that stages nothing else in its transaction needs no unit of work:
one ``INSERT .. RETURNING`` is its own transaction. :class:`AsyncRowWriter` runs it on
a pooled connection of the primary, returning only the columns the response schema
names, as the database stored them (server defaults, numbers at their column's scale)::

    writer = AsyncRowWriter()

    @router.post("", status_code=201)
    async def create_product(body: ProductCreate) -> ProductRead:
        try:
            return await writer.create_as(ProductRead, Product, body.model_dump())
        except IntegrityError as exc:
            raise HTTPException(status_code=409, detail="conflicts with stored data") from exc

The statement is the repository's ``create``: the same columns, the same Python-side
defaults (``default=``, computed here per row as SQLAlchemy computes them), the same
``IntegrityError`` for a constraint it breaks. On asyncpg it runs on the driver's own
connection, compiled once per model, schema and set of keys (see
``servicekit.database._driver``); a default that reads SQLAlchemy's execution context,
a type SQLAlchemy converts, a test's pinned transaction, PgBouncer and the sync
:class:`RowWriter` take a write session instead, committed before the call returns.

A write that must commit together with something else (an outbox event, a second row)
belongs in a session with a repository, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.database import engine as primary
from servicekit.database._driver import driver_engine, fetch_all, planner_of
from servicekit.database._statements import ModelT, SchemaT, projection, statements_for
from servicekit.database.session import async_db_session, db_session

__all__ = ["AsyncRowWriter", "RowWriter"]


class RowWriter:
    """Sync single-row writes into schemas, each in a write session of its own."""

    def create_as(
        self, schema: type[SchemaT], model: type[ModelT], values: Mapping[str, Any]
    ) -> SchemaT:
        """Insert one row of ``model`` and commit; the row as stored, as ``schema``.

        ``values`` are column values by attribute name (an unknown name is a
        ``ValueError``); a broken constraint raises SQLAlchemy's ``IntegrityError``.
        """
        statements_for(model).require_columns(values)
        with db_session() as session:
            connection = session.connection(bind_arguments={"mapper": model})
            row = connection.execute(_insert_returning(model, schema), dict(values)).mappings()
            stored = dict(row.one())
        return schema.model_validate(stored)


class AsyncRowWriter:
    """The async twin of :class:`RowWriter`, on the driver's connection where it can be."""

    async def create_as(
        self, schema: type[SchemaT], model: type[ModelT], values: Mapping[str, Any]
    ) -> SchemaT:
        """Insert one row of ``model`` and commit; the row as stored, as ``schema``.

        ``values`` are column values by attribute name (an unknown name is a
        ``ValueError``); a broken constraint raises SQLAlchemy's ``IntegrityError``.
        """
        statements_for(model).require_columns(values)
        stmt = _insert_returning(model, schema)
        engine = _driver_engine()
        if engine is not None:
            plan = planner_of(engine).plan_insert(stmt, tuple(values))
            if plan is not None:
                ((stored,),) = await fetch_all(engine, [(plan.plan, plan.arguments(values))])
                return schema.model_validate(stored)
        async with async_db_session() as session:
            connection = await session.connection(bind_arguments={"mapper": model})
            result = await connection.execute(stmt, dict(values))
            stored = dict(result.mappings().one())
        return schema.model_validate(stored)


def _driver_engine() -> AsyncEngine | None:
    """The primary, when a write may use its asyncpg connections directly."""
    return driver_engine(primary._engines["async"])


@cache
def _insert_returning(model: type[ModelT], schema: type[SchemaT]) -> Insert:
    """``INSERT`` into ``model``'s table ``RETURNING`` the columns ``schema`` names."""
    table: Table = model.__table__  # type: ignore[assignment]
    return table.insert().returning(*projection(model, schema))
