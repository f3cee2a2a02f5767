"""Configuration documents in Redis: typed, versioned, cached and live-reloaded.

:class:`~servicekit.config.store.RedisConfigStore` stores Pydantic models as numbered
versions of a document under a per-service prefix, keeps the documents a process reads in a
local cache that Redis's keyspace notifications keep current, and calls watchers when any
process changes one. See ``docs/runtime/config.md``.
"""

from servicekit.config.store import RedisConfigStore
from servicekit.errors import (
    ConfigDocumentInvalidError,
    ConfigVersionConflictError,
    StoreConnectionError,
    StoreError,
    StoreOperationError,
    StoreSerializationError,
)

__all__ = [
    "ConfigDocumentInvalidError",
    "ConfigVersionConflictError",
    "RedisConfigStore",
    "StoreConnectionError",
    "StoreError",
    "StoreOperationError",
    "StoreSerializationError",
]
