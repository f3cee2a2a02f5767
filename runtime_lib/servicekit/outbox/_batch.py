"""The relay's database steps: lock the oldest rows, delete the sent ones.

Plain functions of a sync session (see :mod:`._sessions`), with their statements built
once per relay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import ARRAY, BigInteger, Row, any_, bindparam, delete, select

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from servicekit.outbox.mixin import OutboxMixin

# id, stream, event_type, schema_version, data
Message = Row[int, str, str, int, bytes]


class BatchSteps:
    """Claims and deletes batches of one outbox table."""

    __slots__ = ("_claim", "_delete_any", "_model")

    def __init__(self, model: type[OutboxMixin], batch_size: int) -> None:
        self._model = model
        # SKIP LOCKED: rows another relay holds are passed over, not waited for, so each
        # relay takes the oldest rows nobody else is sending.
        self._claim = (
            select(model.id, model.stream, model.event_type, model.schema_version, model.data)
            .order_by(model.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        self._delete_any = (
            delete(model)
            .where(model.id == any_(bindparam("ids", type_=ARRAY(BigInteger()))))
            .execution_options(synchronize_session=False)
        )

    def claim(self, session: Session) -> Sequence[Message]:
        """Lock and return the oldest unlocked rows, in id order."""
        return session.execute(self._claim).all()

    def delete(self, session: Session, ids: Sequence[int]) -> None:
        """Delete the rows with these ids (the ones just sent)."""
        if session.get_bind().dialect.name == "postgresql":
            # One array parameter: much cheaper than an IN list of batch_size parameters.
            session.execute(self._delete_any, {"ids": ids})
        else:
            model = self._model
            session.execute(
                delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
            )
