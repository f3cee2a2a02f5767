"""Statement building shared by the sync and async repositories.

The two repository classes differ only in how they execute; every statement, every
parameter transformation and every cache lives here, once. A repository holds a
:class:`StatementBuilder` (from :func:`statements_for`) rather than inheriting from it,
so none of these helpers becomes part of a generated repository's public API.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import (
    Column,
    ColumnElement,
    Executable,
    Row,
    Select,
    Table,
    exists,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapper,
    Session,
    configure_mappers,
    make_transient_to_detached,
)
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from servicekit.database.base import SoftDeleteMixin

ModelT = TypeVar("ModelT", bound=DeclarativeBase)
SchemaT = TypeVar("SchemaT", bound=BaseModel)

_UPSERT_DIALECTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# The TimestampMixin column an upsert that updates must set itself (_upsert_statement).
_UPDATED_AT = "updated_at"
# OFFSET is a signed 64-bit integer in Postgres and SQLite alike.
_MAX_OFFSET = 2**63 - 1


class StatementBuilder(Generic[ModelT]):
    """Builds the repository statements for ``model`` (one per model: :func:`statements_for`)."""

    __slots__ = ("model",)

    def __init__(self, model: type[ModelT]) -> None:
        self.model = model

    @property
    def query(self) -> Select[ModelT]:
        """``select(model)``, to compose custom queries on (live rows only: see ``live``)."""
        return select(self.model).where(*self.live())

    def if_live(self, obj: ModelT | None) -> ModelT | None:
        """``obj`` unless it is a soft-deleted row."""
        if obj is not None and is_soft_deletable(self.model) and obj.deleted_at is not None:  # type: ignore[attr-defined]
            return None
        return obj

    def by_key(self, ident: Any) -> Select[ModelT]:
        """The live row whose primary key is ``ident`` (a tuple for a composite key)."""
        values = key_values(ident)
        columns = _primary_key(self.model)
        if len(values) != len(columns):
            raise ValueError(f"{self.model.__name__}'s primary key has {len(columns)} columns")
        return self.query.where(*(c == v for c, v in zip(columns, values, strict=True)))

    def live(self) -> builtins.list[ColumnElement[bool]]:
        """``deleted_at IS NULL`` for a soft-deletable model, else nothing."""
        if not is_soft_deletable(self.model):
            return []
        return [self.model.__table__.c.deleted_at.is_(None)]

    def require_columns(self, names: Iterable[str]) -> None:
        """Refuse (``ValueError``) the first of ``names`` that is not a mapped column."""
        columns = _column_attributes(self.model)
        unknown = sorted(set(names) - set(columns))
        if unknown:
            raise ValueError(f"{self.model.__name__} has no column {unknown[0]!r}")

    def criteria(self, filters: Mapping[str, Any]) -> builtins.list[ColumnElement[bool]]:
        """``column == value`` for each filter; unknown names are a clear ``ValueError``."""
        self.require_columns(filters)
        return [getattr(self.model, name) == value for name, value in filters.items()]

    def select_where(self, filters: Mapping[str, Any]) -> Select[ModelT]:
        return self.query.where(*self.criteria(filters))

    def key_lock(self, filters: Mapping[str, Any], dialect: str) -> Select[Any] | None:
        """Postgres: a transaction-level advisory lock on the table and ``filters``' values
        (a 64-bit hash of them: a collision only makes two keys wait for each other).
        Other databases: ``None`` (SQLite serialises its writers anyway)."""
        if dialect != "postgresql":
            return None
        self.require_columns(filters)
        table = cast("Table", self.model.__table__)
        values = sorted((name, str(value)) for name, value in filters.items())
        key = repr((table.schema, table.name, values))
        return select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))

    def lock_where(self, filters: Mapping[str, Any]) -> Select[ModelT]:
        """The first live row matching ``filters``, ``FOR UPDATE``, reloaded from the row
        (not the identity map: the lock may have waited for another transaction's change).
        SQLite has no row locks: its writers are serialised by the database file's lock."""
        return (
            self.select_where(filters)
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def exists_stmt(self, filters: Mapping[str, Any]) -> Select[bool]:
        return select(exists().where(*self.criteria(filters), *self.live()))

    def count_stmt(self, filters: Mapping[str, Any]) -> Select[int]:
        criteria = [*self.criteria(filters), *self.live()]
        return select(func.count()).select_from(self.model).where(*criteria)

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
        base = stmt if stmt is not None else self.query
        return self.page_items(base, page, size), self.count_of(base)

    def page_items(self, stmt: Select[Any], page: int, size: int) -> Select[Any]:
        """``stmt`` limited to page ``page`` of ``size`` rows."""
        return stmt.limit(size).offset(page_offset(page, size))

    def count_of(self, stmt: Select[Any]) -> Select[int]:
        """``COUNT(*)`` of the rows ``stmt`` selects (its order dropped)."""
        return select(func.count()).select_from(stmt.order_by(None).subquery())

    def projected(self, stmt: Select[Any], schema: type[BaseModel]) -> Select[Any]:
        """``stmt`` selecting only the columns ``schema``'s fields name."""
        return stmt.with_only_columns(*projection(self.model, schema))

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

    def insert_stmt(self) -> Executable:
        """``INSERT .. RETURNING`` every column (the values come with the execution)."""
        return _insert_statement(self.model)

    def load_returned(self, session: Session, row: Row[Any]) -> ModelT:
        """The persistent instance for a row returned by the RETURNING upsert."""
        obj: ModelT = _row_loader(self.model).load(session, row)
        return obj

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


def key_values(ident: Any) -> tuple[Any, ...]:
    """A primary key as a tuple of its column values (a single value for a one-column key)."""
    return tuple(ident) if isinstance(ident, tuple) else (ident,)


def page_offset(page: int, size: int) -> int:
    """The OFFSET of page ``page`` of ``size`` rows; ``ValueError`` for one that cannot be."""
    if page < 1 or size < 1:
        raise ValueError(f"page and size must be >= 1, got page={page}, size={size}")
    offset = (page - 1) * size
    if offset > _MAX_OFFSET:
        raise ValueError(f"page {page} of size {size} starts past the largest OFFSET")
    return offset


def is_soft_deletable(model: type[DeclarativeBase]) -> bool:
    """Whether ``model`` has ``SoftDeleteMixin``'s ``deleted_at``."""
    return issubclass(model, SoftDeleteMixin)


@cache
def version_column(model: type[DeclarativeBase]) -> Column[int] | None:
    """The model's ``version_id_col`` (``VersionMixin``), or ``None``."""
    mapper: Mapper[Any] = inspect(model)
    return cast("Column[int] | None", mapper.version_id_col)


def statements_for(model: type[ModelT]) -> StatementBuilder[ModelT]:
    """The (cached) statement builder of ``model``."""
    builder: StatementBuilder[ModelT] = _builder(model)
    return builder


@cache
def _builder(model: type[DeclarativeBase]) -> StatementBuilder[Any]:
    return StatementBuilder(model)


@cache
def _column_attributes(model: type[DeclarativeBase]) -> tuple[str, ...]:
    mapper: Mapper[Any] = inspect(model)
    return tuple(prop.key for prop in mapper.column_attrs)


@cache
def _primary_key(model: type[DeclarativeBase]) -> tuple[Any, ...]:
    mapper: Mapper[Any] = inspect(model)
    return tuple(mapper.primary_key)


@cache
def projection(model: type[DeclarativeBase], schema: type[BaseModel]) -> tuple[Any, ...]:
    columns = set(_column_attributes(model))
    for name in schema.model_fields:
        if name not in columns:
            raise ValueError(
                f"{schema.__name__}.{name} is not a column of {model.__name__}:"
                " read whole rows (paginate) and validate them instead"
            )
    # Labelled with the field's name: a result's keys are the schema's, even where an
    # attribute maps a column of another name.
    return tuple(getattr(model, name).label(name) for name in schema.model_fields)


@cache
def rows_adapter(schema: type[SchemaT]) -> TypeAdapter[builtins.list[SchemaT]]:
    """Validates a list of rows (read by attribute) into ``schema`` instances, in one call."""
    return TypeAdapter(builtins.list[schema])  # type: ignore[valid-type]


@cache
def _insert_statement(model: type[DeclarativeBase]) -> Executable:
    table = cast("Table", model.__table__)
    insert: Executable = table.insert().returning(*table.c)
    return insert


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
    if update_fields and is_soft_deletable(model):
        assignments["deleted_at"] = None  # upserting a deleted row's key restores it
    version = version_column(model)
    if update_fields and version is not None:
        assignments[version.key] = version + 1
    if returning and not assignments:
        # A conflicting row is "touched" by assigning its own key back, so that RETURNING
        # yields it. ON CONFLICT DO NOTHING returns nothing for that row, and a follow-up
        # SELECT runs in the statement's old snapshot: under concurrency it can miss a row
        # another transaction just committed. The self-assignment locks and returns it.
        assignments = {conflict_on[0]: stmt.excluded[conflict_on[0]]}
    upsert: Any
    if assignments:
        upsert = stmt.on_conflict_do_update(index_elements=list(conflict_on), set_=assignments)
    else:
        upsert = stmt.on_conflict_do_nothing(index_elements=list(conflict_on))
    if returning:
        # Plain Core RETURNING, materialised by _RowLoader: an ORM-enabled statement
        # (bulk DML, or select().from_statement()) sets up compile state and row
        # processors on every execution, which doubled the cost of a one-row upsert.
        upsert = upsert.returning(*table.c)
    result: Executable = upsert
    return result


class _RowLoader:
    """Makes a row of every column of ``model``'s table a persistent instance.

    It does what an ORM query with ``populate_existing`` would, through public API: the
    instance already in the identity map is refreshed in place (committed values, no
    history, so nothing is flushed back); otherwise a new instance is filled from the
    row and attached as if loaded (``make_transient_to_detached`` + ``Session.add``).
    """

    __slots__ = ("_attributes", "_mapper", "_polymorphic", "_primary_key")

    def __init__(self, model: type[DeclarativeBase]) -> None:
        # Attribute instrumentation is completed when mappers are configured; instances
        # made without a query or a constructor call would otherwise miss it.
        configure_mappers()
        mapper: Mapper[Any] = inspect(model)
        table = cast("Table", model.__table__)
        position: dict[ColumnElement[Any], int] = {
            column: index for index, column in enumerate(table.c)
        }
        self._mapper = mapper
        self._attributes = tuple(
            (position[column], prop.key)
            for prop in mapper.column_attrs
            for column in prop.columns
            if column in position
        )
        self._primary_key = tuple(position[column] for column in mapper.primary_key)
        # The row's discriminator may name a subclass; only the ORM's loader picks it.
        self._polymorphic = mapper.polymorphic_on is not None

    def load(self, session: Session, row: Row[Any]) -> Any:
        ident = tuple([row[index] for index in self._primary_key])
        if self._polymorphic:
            # Rare: one extra SELECT by primary key (it sees the row this transaction
            # just wrote or locked) so the ORM resolves the class.
            return session.get(self._mapper, ident, populate_existing=True)
        key = self._mapper.identity_key_from_primary_key(ident)
        obj = session.identity_map.get(key)
        if obj is not None:
            for index, name in self._attributes:
                set_committed_value(obj, name, row[index])
            return obj
        obj = self._mapper.class_manager.new_instance()
        state = instance_dict(obj)
        for index, name in self._attributes:
            state[name] = row[index]
        make_transient_to_detached(obj)
        session.add(obj)
        return obj


@cache
def _row_loader(model: type[DeclarativeBase]) -> _RowLoader:
    return _RowLoader(model)


def _has_onupdate(model: type[DeclarativeBase], name: str) -> bool:
    column = model.__table__.c.get(name)
    return column is not None and column.onupdate is not None


def _as_sequence(value: Any | Sequence[Any]) -> Sequence[Any]:
    if isinstance(value, list | tuple):
        return value
    return (value,)
