"""What the parts of a router read from its configuration, and the check they share.

The router's options stay plain attributes of :class:`~servicekit.streams.EventRouter`;
its reader, claimer and dispatcher read them through :class:`RouterSettings` when they
need them, as the router itself did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from servicekit.streams.errors import StreamsConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

# Every part of a router logs under the router's module name, which is what users
# configure (``logging.getLogger("servicekit.streams.router")``).
LOGGER_NAME = "servicekit.streams.router"


class RouterSettings(Protocol):
    """The options and the client of a router (an :class:`EventRouter` is one)."""

    stream: str
    group: str
    consumer: str
    batch_size: int
    block_ms: int
    claim_interval: float
    claim_min_idle_ms: int
    max_deliveries: int
    dlq_stream: str | None
    dlq_maxlen: int
    ordered: bool

    @property
    def redis(self) -> Redis: ...

    async def ensure_group(self) -> None: ...


def check_deadline(seconds: float, what: str, claim_min_idle_ms: int) -> None:
    """Reject a deadline (``seconds`` a message may spend in ``what``) that does not fit
    in ``claim_min_idle_ms``.

    A message whose handler is still running must not look abandoned: if it could stay
    unacknowledged longer than claim_min_idle_ms, another consumer would claim it and run
    it a second time while the first run is still going.
    """
    if seconds * 1000 >= claim_min_idle_ms:
        raise StreamsConfigurationError(
            f"{what} allows {seconds:g}s per message, not less than "
            f"claim_min_idle_ms={claim_min_idle_ms}: a live handler would be "
            "claimed by another consumer; raise claim_min_idle_ms or lower the timeout"
        )
