"""stage_event: the outbox row commits with the entity and vanishes on rollback."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from servicekit.outbox import stage_event
from servicekit.streams import correlation_scope
from servicekit.streams.serialization import decode_fields

from .conftest import count_rows
from .models import OutboxMessage, SkObWidgetCreated, Widget


async def test_the_event_commits_with_the_entity(
    async_sessions: async_sessionmaker[AsyncSession],
) -> None:
    event = SkObWidgetCreated(n=1, name="gear")
    async with async_sessions() as session, session.begin():
        session.add(Widget(id=1, name="gear"))
        with correlation_scope("request-1"):
            staged = stage_event(session, OutboxMessage, event, stream="widgets")
    assert isinstance(staged, OutboxMessage)

    async with async_sessions() as session:
        [message] = (await session.scalars(select(OutboxMessage))).all()
        assert await session.get(Widget, 1) is not None
    assert message.stream == "widgets"
    assert message.event_type == "sk_ob_widget.created"
    assert message.schema_version == 1
    assert message.created_at.tzinfo is UTC
    # The stored fields decode to the event, stamped with the scope's correlation id.
    stored = decode_fields(
        {"event_type": message.event_type, "schema_version": b"1", "data": message.data}
    )
    assert stored == event.model_copy(update={"correlation_id": "request-1"})


def test_the_event_vanishes_on_rollback(sync_sessions: sessionmaker[Session]) -> None:
    with sync_sessions() as session:
        session.add(Widget(id=2, name="cog"))
        stage_event(session, OutboxMessage, SkObWidgetCreated(n=2), stream="widgets")
        session.flush()  # written, inside the transaction
        assert session.scalar(select(OutboxMessage.stream)) == "widgets"
        session.rollback()
    with sync_sessions() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert session.get(Widget, 2) is None


async def test_a_failed_transaction_stages_nothing(
    async_sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(RuntimeError):
        async with async_sessions() as session, session.begin():
            session.add(Widget(id=3, name="bolt"))
            stage_event(session, OutboxMessage, SkObWidgetCreated(n=3), stream="widgets")
            raise RuntimeError("the handler failed")
    assert await count_rows(async_sessions, OutboxMessage) == 0


def test_caused_by_sets_causation_and_correlation(sync_sessions: sessionmaker[Session]) -> None:
    cause = SkObWidgetCreated(n=0)
    with sync_sessions() as session, session.begin():
        message = stage_event(
            session, OutboxMessage, SkObWidgetCreated(n=4), stream="widgets", caused_by=cause
        )
    stored = decode_fields({"event_type": message.event_type, "data": message.data})
    assert stored.causation_id == str(cause.id)
    assert stored.correlation_id == str(cause.id)
