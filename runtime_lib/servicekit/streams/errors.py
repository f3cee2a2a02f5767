"""Exceptions raised by :mod:`servicekit.streams`.

Everything derives from :class:`StreamsError`, itself a
:class:`servicekit.errors.ServiceKitError`, so one ``except`` clause covers the family.
"""

from __future__ import annotations

from servicekit.errors import ConfigurationError, ServiceKitError

__all__ = [
    "DeserializationError",
    "EmitError",
    "HandlerTimeoutError",
    "MaxRetriesExceededError",
    "NonRetryableError",
    "StreamsConfigurationError",
    "StreamsError",
]


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
