"""Error bodies the API answers with, declared in OpenAPI on the routes that send them."""

from typing import Any

from pydantic import BaseModel


class ErrorMessage(BaseModel):
    """The body of a 400, 404, 409 or 503 answer."""

    detail: str


_WHEN = {
    400: "The body cannot be read: not UTF-8, or a number too long to parse.",
    404: "There is no row with this id.",
    409: "The row conflicts with stored data: a unique value is taken, or a reference "
    "points at no row.",
    503: "The database is unreachable or slow, or the change met a concurrent one; the "
    "same request may succeed after the Retry-After seconds.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that can answer these error statuses."""
    return {status: {"model": ErrorMessage, "description": _WHEN[status]} for status in statuses}
