"""What the parts of a router read from its configuration, and the check they share.

The router's options stay plain attributes of :class:`~servicekit.streams.EventRouter`;
its reader, claimer and dispatcher read them through :class:`RouterSettings` when they
need them, as the router itself did.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

from servicekit.streams.errors import StreamsConfigurationError

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient

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
    def redis(self) -> RedisClient: ...

    async def ensure_group(self) -> None: ...


def check_deadline(seconds: float, what: str) -> None:
    """Reject a deadline (``seconds`` a message may spend in ``what``) that never comes.

    While a handler runs, its consumer keeps the message from the other consumers however
    long that takes (see :mod:`._lease`). The deadline is what ends it: a handler that
    hangs times out, its retries run out, and the message is acknowledged, dead-lettered
    or left for another delivery. Without one, a hung handler would keep its message for
    ever.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise StreamsConfigurationError(
            f"{what} allows {seconds:g}s per message: a deadline must be finite and "
            "positive, or a handler that hangs would keep its message from every "
            "consumer for ever"
        )
