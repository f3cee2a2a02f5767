"""Every exception servicekit raises on purpose, in one tree.

Catch :class:`ServiceKitError` to handle the whole family, a branch (``StoreError``,
``StreamsError``, ...) to handle one concern, or :class:`ConfigurationError` for setup
mistakes (a missing ``DATABASE_URL``, a client used before it was initialized): those
are programming errors and fail-open code never swallows them. Some classes also derive
from the built-in exception that describes them (``LookupError``, ``RuntimeError``,
``TypeError``, ``ValueError``), so generic handlers keep working, including those written
for the seed libraries services migrate from (``docs/migrating.md``)::

    ServiceKitError
    ├── ConfigurationError
    │   ├── CacheNotInitializedError       servicekit.cache (also a RuntimeError)
    │   ├── HttpClientNotInitializedError  servicekit.http_client (also a RuntimeError)
    │   ├── NotBoundError                  servicekit.database (also a DatabaseError)
    │   └── StreamsConfigurationError      servicekit.streams (also a StreamsError)
    ├── DatabaseError                      servicekit.database
    │   ├── NotBoundError
    │   ├── NotFoundError                  (also a LookupError)
    │   ├── StaleVersionError              update/delete at a version that moved on
    │   ├── DatabaseUnavailableError       the server cannot be reached or dropped the link
    │   ├── DatabaseTimeoutError           a statement, lock or pool wait ran out of time
    │   ├── RetryableConflictError         serialization failure or deadlock: run it again
    │   └── ReadOnlySessionError           a read session (maybe on a replica) asked to write
    ├── StoreError                         servicekit.store, servicekit.config
    │   ├── StoreConnectionError
    │   ├── StoreSerializationError        (also a TypeError)
    │   ├── StoreDeserializationError      (also a ValueError)
    │   │   └── ConfigDocumentInvalidError names the config key and version
    │   ├── StoreOperationError
    │   └── ConfigVersionConflictError     update at a config version that moved on
    ├── StreamsError                       servicekit.streams
    │   ├── StreamsConfigurationError
    │   ├── EmitError
    │   ├── DeserializationError
    │   ├── HandlerTimeoutError
    │   ├── MaxRetriesExceededError
    │   └── NonRetryableError
    ├── IdempotencyError                   servicekit.kv
    │   ├── IdempotencyInProgressError     another caller is running it (409, Retry-After)
    │   ├── IdempotencyKeyReusedError      the key came back with another payload (422)
    │   └── IdempotencyLeaseLostError      the holder's lease lapsed; its result is not kept
    ├── RateLimiterStoppedError            servicekit.rate_limit
    └── TestgresError                      servicekit.testgres (also a RuntimeError)

Every class is defined here and re-exported by the module that raises it, so
``from servicekit.store import StoreError`` and ``from servicekit.errors import
StoreError`` are the same class. This module imports nothing but the standard library:
importing it never pulls in SQLAlchemy, redis or pydantic.

Naming: every class ends in ``Error``, and words are spelled the American way
(``Initialized``, ``Serialization``), as in most of the Python ecosystem (pydantic,
SQLAlchemy, the standard library's ``normalize``) and in what servicekit already puts on
the wire and in module names (the ``deserialization_failed`` dead-letter reason,
``servicekit.streams.serialization``, ``normalize_url``), which cannot change without
breaking readers. The names used before that rule (``NotFound``,
``CacheNotInitialisedError``, ``HttpClientNotInitialisedError``,
``StoreSerialisationError``, ``StoreDeserialisationError``) remain as aliases of the
same classes, so services importing them keep working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CacheNotInitializedError",
    "ConfigDocumentInvalidError",
    "ConfigVersionConflictError",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseTimeoutError",
    "DatabaseUnavailableError",
    "DeserializationError",
    "EmitError",
    "HandlerTimeoutError",
    "HttpClientNotInitializedError",
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyLeaseLostError",
    "MaxRetriesExceededError",
    "NonRetryableError",
    "NotBoundError",
    "NotFoundError",
    "RateLimiterStoppedError",
    "ReadOnlySessionError",
    "RetryableConflictError",
    "ServiceKitError",
    "StaleVersionError",
    "StoreConnectionError",
    "StoreDeserializationError",
    "StoreError",
    "StoreOperationError",
    "StoreSerializationError",
    "StreamsConfigurationError",
    "StreamsError",
    "TestgresError",
]


class ServiceKitError(Exception):
    """Base class of every error servicekit raises deliberately."""


class ConfigurationError(ServiceKitError):
    """servicekit was used before it was set up, or set up with invalid values."""


# --- servicekit.cache, servicekit.http_client ---------------------------------------------


class CacheNotInitializedError(ConfigurationError, RuntimeError):
    """A ``redis_*`` cache function was called before ``redis_init()`` (or after close).

    Also a ``RuntimeError``: what serpens' cache raised for the same mistake, so
    ``except RuntimeError`` written for it still applies.
    """


class HttpClientNotInitializedError(ConfigurationError, RuntimeError):
    """The shared HTTP client was requested before ``init_client()`` on this event loop.

    Also a ``RuntimeError``, like its twin :class:`CacheNotInitializedError`.
    """


# --- servicekit.database ------------------------------------------------------------------


class DatabaseError(ServiceKitError):
    """Base class of the database layer's own errors."""


class NotBoundError(DatabaseError, ConfigurationError):
    """A session or engine was requested before ``bind()`` / ``async_bind()`` ran."""


class NotFoundError(DatabaseError, LookupError):
    """``get_or_raise`` found no row with the requested primary key."""

    def __init__(self, model: type[Any], ident: Any) -> None:
        self.model = model
        self.ident = ident
        super().__init__(f"{model.__name__} with primary key {ident!r} not found")


class StaleVersionError(DatabaseError):
    """A change named a version of a row that is no longer the stored one.

    Raised by the repositories' ``update``/``delete``/``soft_delete`` when the model has a
    version column (``VersionMixin``) and ``expected_version`` differs from it: someone
    else changed the row since the caller read it. ``current`` is the stored version.
    """

    def __init__(self, model: type[Any], ident: Any, expected: int, current: int) -> None:
        self.model = model
        self.ident = ident
        self.expected = expected
        self.current = current
        super().__init__(
            f"{model.__name__} {ident!r} is at version {current}, not {expected}: "
            "it changed since it was read"
        )


class DatabaseUnavailableError(DatabaseError):
    """The database could not be reached, or the connection broke (failover, restart).

    Raised in place of the driver's error by every engine ``bind()``/``async_bind()``
    makes. ``ambiguous`` is true when the link broke while a ``COMMIT`` may have been on
    its way: the change may or may not be stored, so only an idempotent unit of work may
    run again (:func:`servicekit.database.retrying` does not).
    """

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        self.ambiguous = ambiguous
        super().__init__(message)


class DatabaseTimeoutError(DatabaseError):
    """A statement or lock wait passed its timeout, or no pooled connection came free."""


class RetryableConflictError(DatabaseError):
    """A serialization failure or deadlock: the server rolled the transaction back, and
    running the whole unit of work again may succeed."""


class ReadOnlySessionError(DatabaseError):
    """A read session (``read_session()``, possibly on a replica) was asked to write."""


# --- servicekit.store ---------------------------------------------------------------------


class StoreError(ServiceKitError):
    """Base of every error a typed store raises."""


class StoreConnectionError(StoreError):
    """Redis could not be reached or did not answer in time."""


class StoreSerializationError(StoreError, TypeError):
    """The value given to ``set`` cannot be encoded as JSON."""


class StoreDeserializationError(StoreError, ValueError):
    """The stored bytes are not valid for the requested type."""


class StoreOperationError(StoreError):
    """Redis answered with an error (wrong type, out of memory, ...)."""


# --- servicekit.config --------------------------------------------------------------------


class ConfigDocumentInvalidError(StoreDeserializationError):
    """A stored configuration document is not valid JSON for its model, or is missing.

    ``key`` and ``version`` say which document; a config store that meets one while
    reloading keeps serving the last good value and logs this error.
    """

    def __init__(self, key: str, version: int, reason: str) -> None:
        self.key = key
        self.version = version
        super().__init__(f"config {key!r} version {version} is invalid: {reason}")


class ConfigVersionConflictError(StoreError):
    """``update(..., expected_version=n)`` found another version stored: someone else
    changed the document since the caller read it. ``current`` is the stored version
    (0: there is no document)."""

    def __init__(self, key: str, expected: int, current: int) -> None:
        self.key = key
        self.expected = expected
        self.current = current
        super().__init__(
            f"config {key!r} is at version {current}, not {expected}: it changed since it was read"
        )


# --- servicekit.streams -------------------------------------------------------------------


class StreamsError(ServiceKitError):
    """Base class of every error raised by the streams module."""


class StreamsConfigurationError(ConfigurationError, StreamsError):
    """The emitter or router was used before it was configured, or with invalid values."""


class EmitError(StreamsError):
    """Events could not be appended to the stream, even after retrying."""


class DeserializationError(StreamsError):
    """A stream message could not be turned back into an event."""


class HandlerTimeoutError(StreamsError):
    """A handler ran longer than its timeout."""


class MaxRetriesExceededError(StreamsError):
    """A handler kept failing with retryable errors until its quick retries ran out.

    The message stays pending so Redis redelivers it later (the second retry tier).
    """


class NonRetryableError(StreamsError):
    """A handler failed in a way retrying cannot fix; the message goes to the dead letters.

    Handlers may raise it themselves to dead-letter a message at once.
    """


# --- servicekit.kv -----------------------------------------------------------------------


class IdempotencyError(ServiceKitError):
    """Base of the errors :func:`servicekit.kv.idempotent_execute` raises on purpose."""


class IdempotencyInProgressError(IdempotencyError):
    """Another caller holds this idempotency key and is still running the operation.

    Nothing was run. ``retry_after`` is the whole seconds (at least 1) until the holder's
    current lease ends: by then it has finished, renewed its lease or lost it. Services
    answer 409 with a ``Retry-After`` header.
    """

    def __init__(self, key: str, retry_after: int) -> None:
        self.key = key
        self.retry_after = retry_after
        super().__init__(
            f"idempotency key {key!r} is in use by a request still running; retry in {retry_after}s"
        )


class IdempotencyKeyReusedError(IdempotencyError):
    """The idempotency key was first used with a different payload (fingerprint).

    Nothing was run or replayed: the key names another request. Services answer 422.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"idempotency key {key!r} was used with a different payload")


class IdempotencyLeaseLostError(IdempotencyError):
    """The operation ran, but its lease had lapsed, so its result was not recorded.

    The holder could not renew its lease in time (a blocked event loop, Redis out of
    reach) and another caller may have claimed the key since: its result is the one kept.
    ``body`` is what this run computed, for the caller to log or reconcile.
    """

    def __init__(self, key: str, body: Any) -> None:
        self.key = key
        self.body = body
        super().__init__(
            f"idempotency key {key!r}: the lease lapsed while the operation ran, "
            "so its result was not recorded"
        )


# --- servicekit.rate_limit, servicekit.testgres ---------------------------------------------


class RateLimiterStoppedError(ServiceKitError):
    """``RateLimiter.acquire`` was waiting (or called) while the limiter was stopped."""


class TestgresError(ServiceKitError, RuntimeError):
    """No usable server could be found or started; the message lists what was tried.

    Also a ``RuntimeError``: what serpens' testgres raised when its container did not
    come up.
    """

    __test__ = False  # not a test class, whatever pytest's name heuristics say

    def __init__(self, what: str, attempts: list[str]) -> None:
        self.attempts = attempts
        tried = "\n".join(f"  - {attempt}" for attempt in attempts)
        super().__init__(f"testgres could not provide {what}. Tried:\n{tried}")


# --- names used before the tree was unified -----------------------------------------------
# Kept so services that import them keep working (generated routers import NotFound from
# servicekit.database). Each is the same class as its new name; prefer the new names.

NotFound = NotFoundError  # old name: no Error suffix
CacheNotInitialisedError = CacheNotInitializedError  # old name: British spelling
HttpClientNotInitialisedError = HttpClientNotInitializedError  # old name: British spelling
StoreSerialisationError = StoreSerializationError  # old name: British spelling
StoreDeserialisationError = StoreDeserializationError  # old name: British spelling
