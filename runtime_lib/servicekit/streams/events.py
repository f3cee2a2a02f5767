"""Typed events: frozen Pydantic models that know their own type name.

Every subclass of :class:`BaseEvent` gets an ``event_type`` derived from its class name
and is registered, so a consumer can turn a stream message back into the right class.
Messages whose type no class claims become :class:`GenericEvent`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from servicekit.streams.registry import event_registry, event_type_for

__all__ = ["BaseEvent", "GenericEvent"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BaseEvent(BaseModel):
    """Base class of every event.

    Class variables:

    * ``event_type``: the routing name; derived from the class name unless the class body
      sets it.
    * ``schema_version``: stored with each message; bump it on breaking changes and migrate
      old payloads in a ``model_validator(mode="before")``, which receives the stored
      version as ``_schema_version`` and the event timestamp as ``_timestamp``.
    """

    # Frozen: a handler cannot alter an event other handlers of the same message also see.
    # extra="ignore": producers may add fields before every consumer knows them.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str] = "base.event"
    schema_version: ClassVar[int] = 1
    # GenericEvent opts out, so it never claims a real type name.
    register_event: ClassVar[bool] = True

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    timestamp: datetime = Field(default_factory=_utcnow)
    correlation_id: str | None = None
    causation_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        # Normalise a timestamp given by the caller to UTC; naive means UTC, not the local
        # time of whichever host built the event. This is done here rather than in a field
        # validator because a Python validator would also run for every event a consumer
        # reads, doubling the cost of decoding; stored timestamps are already UTC.
        timestamp = data.get("timestamp")
        if isinstance(timestamp, datetime):
            data["timestamp"] = (
                timestamp.replace(tzinfo=UTC)
                if timestamp.tzinfo is None
                else timestamp.astimezone(UTC)
            )
        super().__init__(**data)

    # Tell pydantic this __init__ need not run when validating stored JSON (it only checks
    # this marker; if it ever stops, validation calls __init__ again: slower, same result).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" not in cls.__dict__:
            cls.event_type = event_type_for(cls.__name__)
        if cls.__dict__.get("register_event", True):
            event_registry.register(cls)

    @property
    def routing_key(self) -> str:
        """The name handlers' glob patterns are matched against."""
        return self.event_type


class GenericEvent(BaseEvent):
    """An event whose type no registered class claims.

    ``raw_type`` is the stored type name, ``data`` the payload fields outside the common
    envelope, ``raw_schema_version`` the stored schema version. Emitting a GenericEvent
    writes it back under ``raw_type``, so it can be forwarded unchanged.
    """

    register_event: ClassVar[bool] = False

    raw_type: str
    data: dict[str, Any] = Field(default_factory=dict)
    raw_schema_version: int = 1

    @property
    def routing_key(self) -> str:
        return self.raw_type
