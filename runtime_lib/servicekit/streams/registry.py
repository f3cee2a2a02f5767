"""Event type names and the registry that maps them back to classes.

The name is derived from the class name: the last CamelCase word is the action, the words
before it the entity (``UserCreated`` -> ``user.created``,
``S3ObjectUploaded`` -> ``s3_object.uploaded``). Consumers look the name up here to pick
the class a message is validated against.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from servicekit.streams.events import BaseEvent

__all__ = ["EventRegistry", "event_registry", "event_type_for"]

# An acronym run ("HTTP" in "HTTPRequestSent"), a capitalised word with its digits
# ("S3", "Object"), or a lowercase run at the start of a non-CamelCase name.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z][a-z0-9]*|[a-z0-9]+")


def event_type_for(class_name: str) -> str:
    """The event type of a class called ``class_name``."""
    words: list[str] = [str(word).lower() for word in _WORD.findall(class_name)]
    if not words:
        raise ValueError(f"cannot derive an event type from {class_name!r}")
    if len(words) == 1:
        return words[0]
    return "_".join(words[:-1]) + "." + words[-1]


class EventRegistry:
    """Event type name -> event class.

    Registering a second class under a name replaces the first: the newest definition of
    an event wins, which is what a module reload or a test redefinition expects.
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[BaseEvent]] = {}
        # The same lookup keyed by the raw bytes of a stream field, filled on first use:
        # consumers then skip decoding the type name of every message.
        self._by_raw: dict[bytes, type[BaseEvent] | None] = {}
        self._fast: dict[bytes, Callable[[bytes], BaseEvent] | None] = {}

    def register(self, cls: type[BaseEvent]) -> None:
        self._classes[cls.event_type] = cls
        self._by_raw.clear()
        self._fast.clear()

    def get_raw(self, event_type: bytes) -> type[BaseEvent] | None:
        """:meth:`get` for a name as stored in Redis (UTF-8 bytes)."""
        try:
            return self._by_raw[event_type]
        except KeyError:
            cls = self._by_raw[event_type] = self._classes.get(event_type.decode())
            return cls

    def json_validator(self, event_type: bytes) -> Callable[[bytes], BaseEvent] | None:
        """A function turning stored JSON straight into the event, when that is all it
        takes: the type is registered and has no migration (``before``/``wrap`` model
        validator) that needs the stored schema version. None otherwise."""
        try:
            return self._fast[event_type]
        except KeyError:
            cls = self.get_raw(event_type)
            validator = None
            if cls is not None:
                modes = {d.info.mode for d in cls.__pydantic_decorators__.model_validators.values()}
                if not modes & {"before", "wrap"}:
                    validator = cls.__pydantic_validator__.validate_json
            self._fast[event_type] = validator
            return validator

    def get(self, event_type: str) -> type[BaseEvent] | None:
        return self._classes.get(event_type)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._classes

    def __len__(self) -> int:
        return len(self._classes)


event_registry = EventRegistry()
"""The registry every :class:`~servicekit.streams.BaseEvent` subclass joins on definition."""
