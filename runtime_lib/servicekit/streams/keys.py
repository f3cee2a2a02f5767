"""Names of a stream's companion keys, on the stream's own Redis Cluster slot.

A stream and its dead-letter stream are written together (dead-lettering appends the
dead letter and acknowledges the source entry in one ``MULTI``/``EXEC``; a replay appends
to the stream and deletes the dead letter in one), so on a Redis Cluster they must share
a hash slot. The stream's own name is never changed (existing streams and consumer groups
stay where they are); the companion takes the stream's slot instead:

* a stream with no hash tag (``orders:events``) hashes as a whole, so its dead letters go
  to ``{orders:events}:dead``, whose tag is the stream's whole name;
* a stream with a hash tag (``{orders}:events``) lends it: ``{orders}:events:dead``.

The same name on a single node and on a cluster, so a service moves by changing
``REDIS_URL`` alone. See ``docs/runtime/redis-keys.md``.
"""

from __future__ import annotations

from servicekit.streams._wire import same_slot
from servicekit.streams.errors import StreamsConfigurationError

__all__ = ["dead_letter_stream"]

DEAD_LETTER_SUFFIX = ":dead"


def dead_letter_stream(stream: str) -> str:
    """The dead-letter stream for ``stream``, on the same cluster slot (see above).

    Raises :class:`StreamsConfigurationError` for a name no suffix can follow onto its
    slot (a ``}`` without a tag before it, or an empty tag ``{}``).
    """
    root = stream if _has_tag(stream) else "{" + stream + "}"
    name = root + DEAD_LETTER_SUFFIX
    if not same_slot(name, stream):
        raise StreamsConfigurationError(
            f"no dead-letter stream shares the hash slot of stream {stream!r}: "
            "use a stream name without braces, or with a hash tag like '{orders}:events'"
        )
    return name


def _has_tag(key: str) -> bool:
    # Redis' rule: the part between the first "{" and the next "}", if not empty.
    start = key.find("{")
    end = key.find("}", start + 1)
    return start > -1 and end > start + 1
