"""Every Python example in docs/ type-checks with ``mypy --strict``, so none can rot.

Each ```python block becomes a module: the names the prose takes as given (``redis``,
``router``, ``settings``, a ``User`` model, ...) are declared by PRELUDE, typed; a block
with a top-level ``await`` runs inside an ``async def``. Then one mypy run checks them
all, and a failure names the document and line of the example.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
PRELUDE = """\
# Names the documentation's examples take as given.
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy.orm import Mapped, mapped_column
from servicekit.database import AsyncRepository, Base, TimestampMixin
from servicekit.streams import (
    BaseEvent,
    EventEmitter,
    EventRouter,
    GenericEvent,
    GroupStartPosition,
    exponential,
)


class Settings(BaseModel):
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    log_format: Any = None


class User(BaseModel):
    id: int = 0
    name: str


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str]


class Payment(TimestampMixin, Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str]
    cancel_reason: Mapped[str | None]


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)


class OrderPlaced(BaseEvent):
    order_id: str = ""


class UserCreated(BaseEvent):
    pass


class DocumentEvent(BaseEvent):
    pass


class DocumentCreated(DocumentEvent):
    pass


class DocumentDeleted(DocumentEvent):
    pass


class DocumentIndexed(DocumentEvent):
    pass


class UploadStarted(BaseEvent):
    pass


class PaymentRequested(BaseEvent):
    pass


class Mailer:
    async def send(self, *args: Any) -> None: ...


settings = Settings()
redis: Redis = Redis.from_url(settings.redis_url)
app = FastAPI()
router = EventRouter(stream="events:all", group="docs")
emitter = EventEmitter(stream="events:all")
event = OrderPlaced()
e1 = e2 = e3 = OrderPlaced()
mailer = Mailer()
user_id = 42
order = Order()
keys = ["user:1", "user:2"]
request: Any = None


async def fetch_product(slug: str) -> Product:
    return Product(slug=slug)


async def refresh_token() -> str:
    return "token"


async def build_report() -> bytes:
    return b"{}"


async def create_order() -> dict[str, Any]:
    return {}

"""


def examples() -> list[tuple[str, str]]:
    found = []
    for document in sorted(DOCS.rglob("*.md")):
        text = document.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((f"{document.relative_to(REPO)}:{line}", match.group(1)))
    return found


def module_for(code: str) -> str:
    try:
        compile(code, "<example>", "exec", flags=ast.PyCF_ONLY_AST)
        compile(code, "<example>", "exec")
    except SyntaxError:  # a top-level await: the example is the body of a coroutine
        return PRELUDE + "\nasync def _example() -> None:\n" + textwrap.indent(code, "    ")
    return PRELUDE + "\n" + code


def test_the_docs_have_examples() -> None:
    assert len(examples()) >= 20


def test_every_python_example_type_checks(tmp_path: Path) -> None:
    # "myservice" stands for the reader's own service in the examples.
    (tmp_path / "myservice").mkdir()
    (tmp_path / "myservice" / "__init__.py").write_text("")
    (tmp_path / "myservice" / "models.py").write_text(
        "from servicekit.database import Base as Base\n"
    )
    where = {}
    for index, (place, code) in enumerate(examples()):
        name = f"example_{index:03d}.py"
        (tmp_path / name).write_text(module_for(code), encoding="utf-8")
        where[name] = place
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--hide-error-context",
            "--disable-error-code=no-redef",
            "--disable-error-code=unused-ignore",
            ".",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"MYPYPATH": str(REPO / "runtime_lib"), "PATH": str(Path(sys.executable).parent)},
        timeout=600,
    )
    prelude_lines = PRELUDE.count("\n") + 1
    problems = []
    for line in result.stdout.splitlines():
        hit = re.match(r"(example_\d+\.py):(\d+): (.*)", line)
        if hit:
            offset = int(hit.group(2)) - prelude_lines
            problems.append(f"{where[hit.group(1)]} (+{offset}): {hit.group(3)}")
    if result.returncode != 0 and not problems:
        pytest.fail(result.stdout + result.stderr)
    assert not problems, "\n".join(problems)
