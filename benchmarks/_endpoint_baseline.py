"""The hand-written baseline of ``bench_endpoints.py``: FastAPI on a bare asyncpg pool.

It answers what the generated ``Product`` routes answer, with the same fields, the same
pagination (``items`` + ``total``, ``ORDER BY id``), the same 404 and the same JSON
rendering (FastAPI's default ``JSONResponse``), so the difference is the scaffolding.
Run by the benchmark as ``uvicorn _endpoint_baseline:app`` with ``BASELINE_DSN`` set.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

COLUMNS = "id, name, price, created_at, updated_at"
pools: list[asyncpg.Pool] = []


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # The generated service's pool size, no statement cache tuning: asyncpg's defaults.
    pools.append(await asyncpg.create_pool(os.environ["BASELINE_DSN"], min_size=1, max_size=10))
    try:
        yield
    finally:
        await pools.pop().close()


app = FastAPI(lifespan=lifespan)


class ProductIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    price: Annotated[Decimal, Field(max_digits=12, decimal_places=2)]


def as_json(row: asyncpg.Record) -> dict[str, Any]:
    created: datetime = row["created_at"]
    updated: datetime = row["updated_at"]
    return {
        "name": row["name"],
        "price": str(row["price"]),
        "id": row["id"],
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "updated_at": updated.isoformat().replace("+00:00", "Z"),
    }


@app.get("/products/{item_id}")
async def get_product(item_id: int) -> dict[str, Any]:
    async with pools[0].acquire() as connection:
        row = await connection.fetchrow(f"SELECT {COLUMNS} FROM products WHERE id = $1", item_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no product {item_id}")
    return as_json(row)


@app.get("/products")
async def list_products(
    page: Annotated[int, Query(ge=1)] = 1, size: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, Any]:
    async with pools[0].acquire() as connection:
        rows = await connection.fetch(
            f"SELECT {COLUMNS} FROM products ORDER BY id LIMIT $1 OFFSET $2",
            size,
            (page - 1) * size,
        )
        total = await connection.fetchval("SELECT count(*) FROM products")
    return {"items": [as_json(row) for row in rows], "total": total, "page": page, "size": size}


@app.post("/products", status_code=201)
async def create_product(body: ProductIn) -> dict[str, Any]:
    async with pools[0].acquire() as connection:
        row = await connection.fetchrow(
            f"INSERT INTO products (name, price) VALUES ($1, $2) RETURNING {COLUMNS}",
            body.name,
            body.price,
        )
    assert row is not None
    return as_json(row)
