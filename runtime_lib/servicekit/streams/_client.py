"""The Redis client slot shared by the emitter and the router."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from servicekit.streams.errors import StreamsConfigurationError

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient


class ClientSlot:
    """A Redis client given now or later, e.g. in a FastAPI lifespan."""

    # How to supply the client, for the error raised when it is missing.
    _supply_hint: ClassVar[str] = "pass redis= or call configure() first"

    _redis: RedisClient | None

    def configure(self, redis: RedisClient) -> None:
        """Attach the Redis client (for objects created before the client exists)."""
        self._redis = redis

    @property
    def redis(self) -> RedisClient:
        if self._redis is None:
            raise StreamsConfigurationError(
                f"{type(self).__name__} has no Redis client: {self._supply_hint}"
            )
        return self._redis
