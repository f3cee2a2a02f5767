"""Statement building shared by the sync and async repositories.

The two repository classes differ only in how they execute; every statement, every
parameter transformation and every cache lives here, once.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, Executable, Select, Table, exists, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapper

ModelT = TypeVar("ModelT", bound=DeclarativeBase)

_UPSERT_DIALECTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# A conflicting row is "touched" by assigning its own key back, so that RETURNING yields
# it. ON CONFLICT DO NOTHING returns nothing for that row, and a follow-up SELECT runs in
# the statement's old snapshot: under concurrency it can miss a row another transaction
# just committed. The self-assignment locks the row and always returns it.
_UPDATED_AT = "updated_at"


class StatementBuilder(Generic[ModelT]):
    """Builds the repository's statements for ``model``."""

    model: type[ModelT]

    @property
    def query(self) -> Select[ModelT]:
        """``select(model)``, to compose custom queries on."""
        return select(self.model)

    def criteria(self, filters: Mapping[str, Any]) -> builtins.list[ColumnElement[bool]]:
        """``column == value`` for each filter; unknown names are a clear ``ValueError``."""
        columns = _column_attributes(self.model)
        clauses: builtins.list[ColumnElement[bool]] = []
        for name, value in filters.items():
            if name not in columns:
                raise ValueError(f"{self.model.__name__} has no column {name!r}")
            clauses.append(getattr(self.model, name) == value)
        return clauses

    def select_where(self, filters: Mapping[str, Any]) -> Select[ModelT]:
        return self.query.where(*self.criteria(filters))

    def exists_stmt(self, filters: Mapping[str, Any]) -> Select[bool]:
        return select(exists().where(*self.criteria(filters)))

    def count_stmt(self, filters: Mapping[str, Any]) -> Select[int]:
        return select(func.count()).select_from(self.model).where(*self.criteria(filters))

    def list_stmt(
        self,
        order_by: Any | Sequence[Any] | None,
        limit: int | None,
        offset: int | None,
        filters: Mapping[str, Any],
    ) -> Select[ModelT]:
        stmt = self.select_where(filters)
        if order_by is not None:
            stmt = stmt.order_by(*_as_sequence(order_by))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        return stmt

    def page_stmts(
        self, stmt: Select[ModelT] | None, page: int, size: int
    ) -> tuple[Select[ModelT], Select[int]]:
        """The page's item query and a separate COUNT over the unordered query."""
        if page < 1 or size < 1:
            raise ValueError(f"page and size must be >= 1, got page={page}, size={size}")
        base = stmt if stmt is not None else self.query
        items = base.limit(size).offset((page - 1) * size)
        total = select(func.count()).select_from(base.order_by(None).subquery())
        return items, total

    def upsert_stmt(
        self,
        dialect: str,
        keys: Iterable[str],
        conflict_on: Sequence[str],
        update_fields: Sequence[str] | None,
        *,
        returning: bool,
    ) -> Executable:
        """A cached ``INSERT .. ON CONFLICT`` for rows with exactly ``keys``."""
        return _upsert_statement(
            self.model,
            dialect,
            tuple(sorted(keys)),
            tuple(conflict_on),
            tuple(update_fields) if update_fields else (),
            returning,
        )

    def insert_rows(
        self, objs: Iterable[ModelT | Mapping[str, Any]]
    ) -> dict[tuple[str, ...], builtins.list[dict[str, Any]]]:
        """Column values of model instances or mappings, grouped by the keys they set.

        executemany needs every row of a batch to bind the same parameters; rows that
        leave different columns unset go in separate batches so defaults still apply.
        """
        attributes = _column_attributes(self.model)
        batches: dict[tuple[str, ...], builtins.list[dict[str, Any]]] = {}
        for obj in objs:
            source = obj if isinstance(obj, Mapping) else obj.__dict__
            row = {key: source[key] for key in attributes if key in source}
            batches.setdefault(tuple(row), []).append(row)
        return batches


@cache
def _column_attributes(model: type[DeclarativeBase]) -> tuple[str, ...]:
    mapper: Mapper[Any] = inspect(model)
    return tuple(prop.key for prop in mapper.column_attrs)


@cache
def _upsert_statement(
    model: type[DeclarativeBase],
    dialect: str,
    keys: tuple[str, ...],
    conflict_on: tuple[str, ...],
    update_fields: tuple[str, ...],
    returning: bool,
) -> Executable:
    try:
        insert = _UPSERT_DIALECTS[dialect]
    except KeyError:
        raise NotImplementedError(
            f"upsert supports {sorted(_UPSERT_DIALECTS)}, not {dialect!r}"
        ) from None
    if not conflict_on:
        raise ValueError("upsert needs conflict_on: the unique columns that identify a row")
    table = cast("Table", model.__table__)
    stmt: Any = insert(table)
    assignments = {name: stmt.excluded[name] for name in update_fields}
    if update_fields and _has_onupdate(model, _UPDATED_AT):
        # ON CONFLICT bypasses the ORM's onupdate; the inserted row's default is "now".
        assignments.setdefault(_UPDATED_AT, stmt.excluded[_UPDATED_AT])
    if returning and not assignments:
        assignments = {conflict_on[0]: stmt.excluded[conflict_on[0]]}
    upsert: Any
    if assignments:
        upsert = stmt.on_conflict_do_update(index_elements=list(conflict_on), set_=assignments)
    else:
        upsert = stmt.on_conflict_do_nothing(index_elements=list(conflict_on))
    if not returning:
        result: Executable = upsert
        return result
    # Load the returned row through the ORM's query path: ORM-enabled INSERT .. RETURNING
    # goes through the bulk-DML machinery, which costs ~3x more per single-row call.
    returning_all = upsert.returning(*table.c)
    return select(model).from_statement(returning_all).execution_options(populate_existing=True)


def _has_onupdate(model: type[DeclarativeBase], name: str) -> bool:
    column = model.__table__.c.get(name)
    return column is not None and column.onupdate is not None


def _as_sequence(value: Any | Sequence[Any]) -> Sequence[Any]:
    if isinstance(value, list | tuple):
        return value
    return (value,)
