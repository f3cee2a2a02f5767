"""Models of the outbox tests (their own bases: no global registration) and their event."""

from __future__ import annotations

from sqlalchemy import String, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.database import declarative_base
from servicekit.outbox import OutboxMixin
from servicekit.streams import BaseEvent

OutboxTestBase = declarative_base()
SalesBase = declarative_base(schema="sales")


class Widget(OutboxTestBase):
    __tablename__ = "widgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


class OutboxMessage(OutboxMixin, OutboxTestBase):
    __tablename__ = "outbox"


class SalesOutboxMessage(OutboxMixin, SalesBase):
    __tablename__ = "outbox"


class SkObWidgetCreated(BaseEvent):
    n: int
    name: str = ""


def create_schema(connection: Connection) -> None:
    """Both bases' tables (the schema-qualified one in ``sales``)."""
    connection.execute(text("CREATE SCHEMA IF NOT EXISTS sales"))
    OutboxTestBase.metadata.create_all(connection)
    SalesBase.metadata.create_all(connection)
