"""Handler de-duplication: remember an event id, so a redelivery is skipped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from servicekit.kv._values import ms

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient

__all__ = ["already_processed", "forget_processed"]


async def already_processed(
    redis: RedisClient, *, event_id: str, ttl: float, namespace: str = "processed"
) -> bool:
    """Record ``event_id`` and report whether it had been recorded before.

    Returns ``False`` the first time (the caller should handle the event) and ``True`` on
    every later call within ``ttl`` seconds (the caller should skip it). The check and the
    write are one ``SET NX PX`` command, so two concurrent callers never both get ``False``.
    """
    stored = await redis.set(f"{namespace}:{event_id}", b"1", nx=True, px=ms(ttl))
    return not stored


async def forget_processed(
    redis: RedisClient, *, event_id: str, namespace: str = "processed"
) -> None:
    """Undo :func:`already_processed` for ``event_id``: handling it failed after all, so the
    next delivery must not be skipped."""
    await redis.delete(f"{namespace}:{event_id}")
