"""Declarative bases, a timezone-safe datetime type and the column mixins.

``TimestampMixin`` (created/updated times), ``VersionMixin`` (optimistic concurrency) and
``SoftDeleteMixin`` (rows marked deleted, hidden by the repositories).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, Enum, Integer, MetaData, func, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names: Alembic can only drop or alter what it can name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def declarative_base(schema: str | None = None) -> type[DeclarativeBase]:
    """A new declarative base whose tables live in ``schema`` (default: search_path)."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    return type("Base", (DeclarativeBase,), {"metadata": metadata, "__abstract__": True})


class Base(DeclarativeBase):
    """The default declarative base (no schema, the naming convention above)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def enum_values(enum_class: type[enum.Enum]) -> list[str]:
    """Persist an ``Enum`` column by member values, not names.

    Use as ``Enum(Status, native_enum=False, values_callable=enum_values)``: the stored
    strings then match what the API shows, and renaming a member is not a data migration.
    """
    return [str(member.value) for member in enum_class]


def enum_type(enum_class: type[enum.Enum]) -> Enum:
    """The column type of an enum field: stored by value, checked by the database.

    A ``VARCHAR`` as long as the longest value, with a ``CHECK`` constraint that it is one
    of the values (created with the table), rather than a native Postgres ``ENUM``: a new
    member is then a model change, not an ``ALTER TYPE`` migration.
    """
    values = enum_values(enum_class)
    return Enum(
        enum_class,
        native_enum=False,
        values_callable=enum_values,
        length=max(map(len, values)),
        create_constraint=True,
    )


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that only ever returns aware UTC datetimes.

    Postgres keeps the offset; SQLite stores text without one, so naive values read
    back are UTC by construction. Naive values on the way in are refused: guessing their
    zone is how off-by-hours bugs start.
    """

    impl = DateTime(timezone=True)
    cache_ok = True
    # asyncpg reads a timestamptz as an aware UTC datetime already, so the row readers'
    # asyncpg path (servicekit.database._driver) leaves process_result_value out.
    results_final_from: ClassVar[frozenset[str]] = frozenset({"asyncpg"})

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            # 0001-01-01T00:00+01:00 is in year 0 in UTC: say so instead of "date value
            # out of range" from deep inside the driver.
            raise ValueError(f"{value.isoformat()} is outside the years 1 to 9999 in UTC") from None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


class TimestampMixin:
    """``created_at`` / ``updated_at`` columns, aware UTC, set by the ORM and the server."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now(), nullable=False
    )


class VersionMixin:
    """A ``version`` counter for optimistic concurrency, starting at 1.

    It is SQLAlchemy's ``version_id_col``: every UPDATE the ORM flushes checks the version
    it loaded and increments it (a concurrent change raises ``StaleDataError``), and the
    repositories' ``update``/``delete`` take the version the caller read
    (``expected_version``) and raise ``StaleVersionError`` when it moved on.
    """

    version: Mapped[int] = mapped_column(Integer(), server_default=text("1"), nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class SoftDeleteMixin:
    """``deleted_at``: set, the row is deleted but kept.

    The repositories hide such rows from every read (``get``, ``get_by``, ``list``,
    ``paginate``, ``count``, ``exists`` and their ``query``), and offer ``soft_delete`` and
    ``restore``. Unique constraints still see a deleted row: its key stays taken until it
    is restored, upserted again (which restores it) or deleted for good.
    """

    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, default=None)
