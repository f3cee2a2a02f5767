"""Sessions taking turns on a test's one connection.

Every session of a transactional test joins the same connection with a savepoint of its
own, and savepoints only nest: a session that began while another is mid-transaction
would be released (or rolled back) with it. So a session holds the connection from its
``SAVEPOINT`` until that savepoint ends, and other threads (or tasks) wait for their
turn: an app's background work (the outbox relay) and its requests, or concurrent
requests, run one after the other. The thread running the test holds it one statement
at a time only: its sessions live as long as the test and it waits for the app, which
may then open its sessions inside the test's.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.util import await_only

from servicekit.errors import ConfigurationError

# Long enough for any batch a test runs, short enough to turn a deadlock into an error.
TURN_TIMEOUT = 30.0


def _waited_too_long(holder: object) -> ConfigurationError:
    return ConfigurationError(
        f"waited {TURN_TIMEOUT:.0f}s for the test's database connection, held by"
        f" {holder!r}: under transactional isolation every session shares one"
        " connection, one transaction at a time. Close the session that holds it before"
        " waiting on another one, or mark the test @pytest.mark.real_commits"
    )


class Turns:
    """Who holds a shared connection; follows it through its engine's events.

    Savepoints are told apart by the statements that open and end them (SQLAlchemy
    names them only after its ``savepoint`` event has fired).
    """

    def __init__(self, main: object | None = None) -> None:
        self.main = main  # the owner that holds one statement at a time
        self._holder: object | None = None
        self._depth = 0
        self._openers: dict[str, object] = {}  # savepoints that hold a turn, by name
        self._sending: set[object] = set()  # owners with a statement in flight

    def owner(self) -> object:
        """The thread or task asking."""
        return threading.get_ident()

    def acquire(self, owner: object) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def before_statement(self, statement: str) -> None:
        owner = self.owner()
        verb, name = _savepoint_step(statement)
        opener = self._openers.get(name) if verb in _ENDS else None
        if opener is not None and opener != owner and self._holder == opener:
            # Ended by another thread than its own (a dependency's exit may run in
            # another worker thread): that one inherits the turn.
            self._holder = owner
            self._depth += 1
        else:
            self.acquire(owner)
        self._sending.add(owner)

    def after_statement(self, statement: str, *, failed: bool = False) -> None:
        owner = self.owner()
        if owner not in self._sending:
            return  # it never got its turn (its wait failed)
        self._sending.discard(owner)
        verb, name = _savepoint_step(statement)
        if verb == _OPENS and owner != self.main and not failed:
            self._openers[name] = owner
            return  # the turn lasts until the savepoint ends
        self.release()
        if verb in _ENDS and self._openers.pop(name, None) is not None:
            self.release()

    def install(self, engine: Engine, connection: Connection) -> None:
        """Follow ``connection`` (a connection of ``engine``) until :meth:`uninstall`."""
        self._connection = connection
        self._engine = engine
        self._listeners: list[tuple[str, Callable[..., None]]] = [
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("handle_error", self._failed),
        ]
        for name, listener in self._listeners:
            event.listen(engine, name, listener)

    def uninstall(self) -> None:
        for name, listener in self._listeners:
            event.remove(self._engine, name, listener)

    # Other connections of the engine (none, in practice) are not this one's business.

    def _before(self, connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if connection is self._connection:
            self.before_statement(statement)

    def _after(self, connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if connection is self._connection:
            self.after_statement(statement)

    def _failed(self, context: ExceptionContext) -> None:
        # A statement that failed gets no after_cursor_execute.
        if context.connection is self._connection:
            self.after_statement(context.statement or "", failed=True)


_OPENS = "SAVEPOINT"
_ENDS = ("RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
_SAVEPOINT_STEP = re.compile(r"(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) (\S+)")


def _savepoint_step(statement: str) -> tuple[str, str]:
    """``("SAVEPOINT", name)``, one of ``_ENDS`` and a name, or ``("", "")``."""
    match = _SAVEPOINT_STEP.fullmatch(statement)
    return (match[1], match[2]) if match else ("", "")


class ThreadTurns(Turns):
    """Turns between threads (sync sessions)."""

    def __init__(self, main: object | None = None) -> None:
        super().__init__(main)
        self._changed = threading.Condition()

    def acquire(self, owner: object) -> None:
        deadline = time.monotonic() + TURN_TIMEOUT
        with self._changed:
            while self._holder is not None and self._holder != owner:
                if not self._changed.wait(deadline - time.monotonic()):
                    raise _waited_too_long(self._holder)
            self._holder = owner
            self._depth += 1

    def release(self) -> None:
        with self._changed:
            self._depth -= 1
            if self._depth <= 0:
                self._depth = 0
                self._holder = None
                self._changed.notify_all()


class TaskTurns(Turns):
    """Turns between the tasks of one event loop (async sessions, run in greenlets)."""

    def __init__(self) -> None:
        super().__init__(None)
        self._free = asyncio.Event()
        self._free.set()

    def owner(self) -> object:
        return asyncio.current_task()

    def acquire(self, owner: object) -> None:
        while self._holder is not None and self._holder is not owner:
            holder = self._holder
            try:
                await_only(asyncio.wait_for(self._free.wait(), TURN_TIMEOUT))
            except TimeoutError:
                raise _waited_too_long(holder) from None
        self._holder = owner
        self._depth += 1
        self._free.clear()

    def release(self) -> None:
        self._depth -= 1
        if self._depth <= 0:
            self._depth = 0
            self._holder = None
            self._free.set()
