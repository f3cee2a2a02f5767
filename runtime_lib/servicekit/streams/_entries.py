"""The ``XADD`` of one event entry, packed as RESP.

The emitter packs an entry from an event it has just encoded; the outbox relay packs it
from the encoded fields it stored. Both go through :class:`EntryPacker`, so an event
reaches the stream as the same bytes whichever way it was produced.
"""

from __future__ import annotations

from servicekit.streams._wire import bulk
from servicekit.streams.serialization import FIELD_DATA, FIELD_SCHEMA_VERSION, FIELD_TYPE

_TYPE_FIELD = bulk(FIELD_TYPE.encode())
_VERSION_FIELD = bulk(FIELD_SCHEMA_VERSION.encode())
_DATA_FIELD = bulk(FIELD_DATA.encode())


class EntryPacker:
    """Packs ``XADD`` commands of event entries to one stream.

    ``maxlen`` trims the stream as it grows (``None`` keeps everything); ``approximate``
    makes it ``MAXLEN ~``.
    """

    __slots__ = ("_head",)

    def __init__(self, stream: str, *, maxlen: int | None, approximate: bool) -> None:
        # Everything of an XADD but the three field values is the same for every event:
        # pack it once (the array header counts the six field arguments that follow).
        head = [b"XADD", stream.encode(), b"*"]
        if maxlen is not None:
            head[2:2] = [b"MAXLEN", b"~" if approximate else b"=", b"%d" % maxlen]
        self._head = b"*%d\r\n" % (len(head) + 6) + b"".join(bulk(arg) for arg in head)

    def pack(self, event_type: bytes, schema_version: int, data: bytes) -> bytes:
        """The command appending the entry of these encoded fields."""
        return b"".join(
            (
                self._head,
                _TYPE_FIELD,
                bulk(event_type),
                _VERSION_FIELD,
                bulk(b"%d" % schema_version),
                _DATA_FIELD,
                bulk(data),
            )
        )
