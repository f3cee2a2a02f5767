"""A transactional outbox: events committed with the data, then relayed to Redis Streams.

Stage an event with :func:`stage_event` in the transaction that changes the data; it is
stored in the service's outbox table (a model built on :class:`OutboxMixin`) and commits
or rolls back with the change. :class:`OutboxRelay` appends the committed rows to their
streams, oldest first, at least once: consumers de-duplicate by event id.
"""

from servicekit.outbox.mixin import OutboxMixin
from servicekit.outbox.relay import OutboxRelay
from servicekit.outbox.staging import stage_event

__all__ = ["OutboxMixin", "OutboxRelay", "stage_event"]
