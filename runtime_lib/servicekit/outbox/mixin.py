"""The outbox table: a declarative mixin the service combines with its own base."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Identity, Integer, LargeBinary, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.database.base import UTCDateTime, utcnow

__all__ = ["OutboxMixin"]


class OutboxMixin:
    """Columns of an outbox table: events staged in a transaction, waiting for the relay.

    Combine it with the service's declarative base, which gives the table its schema and
    constraint names (so Alembic autogenerate sees it like any other model)::

        class OutboxMessage(OutboxMixin, Base):
            __tablename__ = "outbox"

    A row holds one event as :class:`~servicekit.streams.EventEmitter` would append it:
    ``event_type``, ``schema_version`` and ``data`` are the entry's three fields, already
    encoded, so the relay sends byte for byte what the emitter would have sent. ``id``
    (an identity column) orders the rows; ``stream`` names the stream the event goes to.
    """

    # BIGINT identity on Postgres; on SQLite only an INTEGER primary key auto-increments.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    stream: Mapped[str] = mapped_column(Text(), nullable=False)
    event_type: Mapped[str] = mapped_column(Text(), nullable=False)
    schema_version: Mapped[int] = mapped_column(Integer(), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now(), nullable=False
    )
