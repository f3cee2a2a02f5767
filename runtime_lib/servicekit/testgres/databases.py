"""Per-test databases cloned from a template that holds the schema.

Cloning (``CREATE DATABASE .. TEMPLATE``) costs a few tens of milliseconds and gives
each test a database nobody else sees: tests can commit, run in parallel, or hand the
URL to a subprocess or an app under test, and the shared server stays clean.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql
from sqlalchemy import MetaData, create_engine, pool, text
from sqlalchemy.engine import URL, make_url

from servicekit.database._url import normalize_url


class DatabaseFactory:
    """Creates the template database once, then clones and drops test databases."""

    def __init__(self, server_url: str, *, schemas: Iterable[str] = (), prefetch: int = 1) -> None:
        self.server_url = make_url(server_url)
        self.schemas = tuple(schemas)
        # Unique per session and process: several suites may share one server.
        self.prefix = f"testgres_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_template"
        self._admin = psycopg.connect(self._conninfo("postgres"), autocommit=True)
        self._clones: set[str] = set()
        self._lock = threading.Lock()  # the admin connection is shared with the dropper
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None
        # Creating a clone costs tens of milliseconds (more on a server with fsync on);
        # making the next one while a test runs takes that off the test's clock.
        self._prefetch = prefetch
        self._ready: queue.Queue[str | BaseException] = queue.Queue(maxsize=max(prefetch, 1))
        self._maker: threading.Thread | None = None
        self._closing = threading.Event()

    def url(self, database: str) -> URL:
        """A psycopg URL for ``database`` on the server."""
        return normalize_url(self.server_url.set(database=database), is_async=False)

    def create_template(
        self, metadata: MetaData | None, migrate: Callable[[str], None] | None = None
    ) -> None:
        """Create the template and its schema (``migrate(url)`` or ``create_all``)."""
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        url = self.url(self.template)
        engine = create_engine(url, poolclass=pool.NullPool)
        try:
            with engine.begin() as connection:
                for schema in self.schemas:
                    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                if migrate is None and metadata is not None:
                    metadata.create_all(connection)
        finally:
            engine.dispose()
        if migrate is not None:
            migrate(url.render_as_string(hide_password=False))

    def clone(self) -> str:
        """A fresh copy of the template, usually made ahead while the previous test ran."""
        if self._prefetch <= 0:
            return self._make_clone()
        if self._maker is None:
            self._maker = threading.Thread(target=self._make_ahead, daemon=True)
            self._maker.start()
        name = self._ready.get()
        if isinstance(name, BaseException):
            raise name
        return name

    def _make_clone(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        self._execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.template)
            )
        )
        with self._lock:
            self._clones.add(name)
        if self.schemas:
            # Database-level settings are not copied from a template.
            path = sql.SQL(", ").join(sql.Identifier(s) for s in (*self.schemas, "public"))
            self._execute(
                sql.SQL("ALTER DATABASE {} SET search_path TO {}").format(
                    sql.Identifier(name), path
                )
            )
        return name

    def _make_ahead(self) -> None:
        # Keeps `prefetch` clones waiting; a bounded queue makes put() block when full.
        while not self._closing.is_set():
            try:
                name: str | BaseException = self._make_clone()
            except BaseException as exc:  # handed to the test that asks for a clone
                name = exc
            while not self._closing.is_set():
                try:
                    self._ready.put(name, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(name, BaseException):
                return

    def create_empty(self) -> str:
        """Create a database without the schema (to test migrations); return its name."""
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with self._lock:
            self._clones.add(name)
        return name

    def drop(self, name: str) -> None:
        """Drop a clone, closing whatever connections a test left open."""
        self._execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        with self._lock:
            self._clones.discard(name)

    def release(self, name: str) -> None:
        """Drop a clone in the background: the next test need not wait for it."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_queued, daemon=True)
            self._dropper.start()
        self._drops.put(name)

    def close(self) -> None:
        """Drop every clone and the template; close the admin connection."""
        self._closing.set()
        if self._maker is not None:
            self._maker.join()
            self._maker = None
        if self._dropper is not None:
            self._drops.put(None)
            self._dropper.join()
            self._dropper = None
        for name in [*self._clones, self.template]:
            self.drop(name)
        self._admin.close()

    def _drop_queued(self) -> None:
        while (name := self._drops.get()) is not None:
            self.drop(name)

    def _execute(self, statement: sql.Composed) -> None:
        with self._lock:
            self._admin.execute(statement)

    def _conninfo(self, database: str) -> str:
        return self.server_url.set(drivername="postgresql", database=database).render_as_string(
            hide_password=False
        )
