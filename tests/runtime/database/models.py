"""Models the database tests run against (their own base: no global registration)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.database import (
    AsyncRepository,
    Repository,
    SoftDeleteMixin,
    TimestampMixin,
    VersionMixin,
    declarative_base,
)

TestBase = declarative_base()


class Product(TimestampMixin, TestBase):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(default=0)


class Review(TestBase):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(String(500))


def _label_by_priority(context: Any) -> str:
    """A default that reads the other values of its row (SQLAlchemy's execution context)."""
    return f"priority {context.get_current_parameters()['priority']}"


class Ticket(TestBase):
    """Python-side defaults of each kind: a function of none, a constant, and one of the
    execution context."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, unique=True)
    priority: Mapped[int] = mapped_column(default=3)
    label: Mapped[str] = mapped_column(String(50), default=_label_by_priority)


class Article(SoftDeleteMixin, VersionMixin, TimestampMixin, TestBase):
    """Versioned and soft-deletable: the row-change API's every check applies."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))


class ProductRepository(Repository[Product]):
    model = Product


class AsyncProductRepository(AsyncRepository[Product]):
    model = Product


class ArticleRepository(Repository[Article]):
    model = Article


class AsyncArticleRepository(AsyncRepository[Article]):
    model = Article
