"""servicekit's sync/async twins keep one API.

Every pair is listed in ``TWINS``, by hand. For each pair the public surface of both sides
is described and compared: for classes, every public member servicekit defines (what a
base class from SQLAlchemy or redis-py brings is theirs to keep in step) plus
``__init__``; for functions (and fixtures), their signature; for session factories, the
call signature and the session settings. A callable is described by its parameters
(name, kind, default); annotations and ``async`` are ignored, since ``Session`` vs
``AsyncSession`` and ``def`` vs ``async def`` are the point of a twin. A deliberate
difference is a ``renames`` entry whose reason the async side's docstring gives.

A twin added to servicekit without an entry here fails ``test_every_twin_is_listed``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

import servicekit
from servicekit import database, store
from servicekit.cache import memory
from servicekit.database import engine
from servicekit.testgres._fixtures import build_fixtures
from servicekit.testgres.session import TestgresConfig

# The fixtures testgres.setup() installs, for a suite in async mode.
FIXTURES = build_fixtures(TestgresConfig(None, async_mode=True))


@dataclass(frozen=True)
class Twin:
    """A sync object and its async twin; ``renames`` maps sync member names to async ones."""

    name: str
    sync: Any
    async_: Any
    renames: Mapping[str, str] = field(default_factory=dict)


TWINS = [
    Twin("Repository / AsyncRepository", database.Repository, database.AsyncRepository),
    # close() / aclose(): the names Python (contextlib.closing / aclosing) and redis-py use.
    Twin(
        "RedisStore / AsyncRedisStore",
        store.RedisStore,
        store.AsyncRedisStore,
        renames={"close": "aclose"},
    ),
    Twin("bind / async_bind", database.bind, database.async_bind),
    Twin("dispose / async_dispose", database.dispose, database.async_dispose),
    Twin("get_engine / get_async_engine", database.get_engine, database.get_async_engine),
    Twin("SessionLocal / AsyncSessionLocal", database.SessionLocal, database.AsyncSessionLocal),
    Twin("db_session / async_db_session", database.db_session, database.async_db_session),
    Twin(
        "wait_for_database / async_wait_for_database",
        database.wait_for_database,
        database.async_wait_for_database,
    ),
    Twin(
        "fastapi_session / fastapi_async_session",
        database.fastapi_session,
        database.fastapi_async_session,
    ),
    Twin("build_engine / build_async_engine", engine.build_engine, engine.build_async_engine),
    Twin("bind_replica / async_bind_replica", database.bind_replica, database.async_bind_replica),
    Twin(
        "dispose_replica / async_dispose_replica",
        database.dispose_replica,
        database.async_dispose_replica,
    ),
    Twin("read_session / async_read_session", database.read_session, database.async_read_session),
    Twin(
        "fastapi_read_session / fastapi_async_read_session",
        database.fastapi_read_session,
        database.fastapi_async_read_session,
    ),
    Twin("wal_position / async_wal_position", database.wal_position, database.async_wal_position),
    Twin("RowReader / AsyncRowReader", database.RowReader, database.AsyncRowReader),
    Twin("RowWriter / AsyncRowWriter", database.RowWriter, database.AsyncRowWriter),
    Twin(
        "fastapi_row_reader / fastapi_async_row_reader",
        database.fastapi_row_reader,
        database.fastapi_async_row_reader,
    ),
    Twin(
        "testgres fixtures db_session / async_db_session",
        FIXTURES["db_session"],
        FIXTURES["async_db_session"],
    ),
    Twin("cached / acached", memory.cached, memory.acached),
    Twin("clear_cache / clear_acache", memory.clear_cache, memory.clear_acache),
]


def describe_callable(func: Callable[..., Any]) -> str:
    """``(self, key, *, ttl=None)``: parameter names, kinds and defaults, nothing else."""
    signature = inspect.signature(func)
    bare = signature.replace(
        parameters=[
            parameter.replace(annotation=inspect.Parameter.empty)
            for parameter in signature.parameters.values()
        ],
        return_annotation=inspect.Signature.empty,
    )
    return str(bare)


def describe_member(member: Any) -> str:
    """What kind of member this is, and its parameters when it is called."""
    if isinstance(member, property):
        return "property"
    if isinstance(member, classmethod):
        return f"classmethod {describe_callable(member.__func__)}"
    if isinstance(member, staticmethod):
        return f"staticmethod {describe_callable(member.__func__)}"
    if inspect.isfunction(member):
        return f"method {describe_callable(member)}"
    return f"attribute of type {type(member).__name__}"


def _own_members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public members (and ``__init__``/``__call__``) that servicekit defines for ``cls``."""
    for name in sorted(dir(cls)):
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        owner = next((base for base in cls.__mro__ if name in vars(base)), None)
        if owner is None or not owner.__module__.startswith("servicekit"):
            continue
        yield name, inspect.getattr_static(cls, name)


def surface(obj: Any) -> dict[str, str]:
    """One side of a twin as ``{member: description}``."""
    if isinstance(obj, type):
        return {name: describe_member(member) for name, member in _own_members(obj)}
    if inspect.isfunction(obj) or not _defined_in_servicekit(obj):
        # A function, or a wrapped one such as a pytest fixture.
        return {"(call)": describe_callable(obj)}
    # An instance, such as a session factory: what its class defines, and its settings
    # (but the engine it is bound to, which depends on what ran before).
    described = {name: describe_member(member) for name, member in _own_members(type(obj))}
    settings = getattr(obj, "kw", {})
    described.update({f"kw[{key}]": repr(value) for key, value in settings.items()})
    described.pop("kw[bind]", None)
    return described


def drift(twin: Twin) -> list[str]:
    """Every difference between the two sides of ``twin``, one line each (empty: in step)."""
    sync = surface(twin.sync)
    renamed = {async_name: sync_name for sync_name, async_name in twin.renames.items()}
    async_ = {renamed.get(name, name): text for name, text in surface(twin.async_).items()}
    lines: list[str] = []
    for name in sorted(sync.keys() | async_.keys()):
        label = name if name not in twin.renames else f"{name} / {twin.renames[name]}"
        if name not in async_:
            lines.append(f"  only in sync:  {label}: {sync[name]}")
        elif name not in sync:
            lines.append(f"  only in async: {label}: {async_[name]}")
        elif sync[name] != async_[name]:
            lines.append(f"  {label}:\n    sync:  {sync[name]}\n    async: {async_[name]}")
    return lines


@pytest.mark.parametrize("twin", TWINS, ids=[twin.name for twin in TWINS])
def test_twins_have_the_same_api(twin: Twin) -> None:
    differences = drift(twin)
    assert not differences, f"{twin.name} drifted apart:\n" + "\n".join(differences)


# --- the listing is complete ----------------------------------------------------------------


def _sync_names(async_name: str) -> set[str]:
    """Names the sync twin of ``async_name`` would have, by servicekit's naming habits."""
    candidates = {
        async_name.replace("Async", "", 1),
        async_name.replace("async_", "", 1),
        async_name.replace("_async", "", 1),
        async_name.replace("acache", "cache", 1),
    }
    candidates.discard(async_name)
    return candidates


def _servicekit_objects() -> Iterator[tuple[str, str, Any]]:
    """``(module, name, object)`` for the public names of every servicekit module."""
    for info in pkgutil.walk_packages(servicekit.__path__, "servicekit."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if not name.startswith("_"):
                yield info.name, name, obj


def _defined_in_servicekit(obj: Any) -> bool:
    owner = obj if isinstance(obj, type) or inspect.isfunction(obj) else type(obj)
    return getattr(owner, "__module__", "").startswith("servicekit")


def test_every_twin_is_listed() -> None:
    listed = {(id(twin.sync), id(twin.async_)) for twin in TWINS}
    missing: set[str] = set()
    for module, name, obj in _servicekit_objects():
        if not _defined_in_servicekit(obj):
            continue
        namespace = vars(importlib.import_module(module))
        for sync_name in _sync_names(name):
            sync = namespace.get(sync_name)
            paired = sync is not None and _defined_in_servicekit(sync)
            if paired and (id(sync), id(obj)) not in listed:
                missing.add(f"{module}: {sync_name} / {name}")
    assert not missing, "twins missing from TWINS:\n  " + "\n  ".join(sorted(missing))


# --- the comparison itself ----------------------------------------------------------------


class _Sync:
    def get(self, key: str, *, ttl: float | None = None) -> None: ...

    def close(self) -> None: ...

    @property
    def size(self) -> int:
        return 0


class _Async:
    async def get(self, key: str, ttl: float | None = 1.0) -> None: ...

    async def aclose(self) -> None: ...

    async def size(self) -> int:
        return 0

    async def flush(self) -> None: ...


_Sync.__module__ = _Async.__module__ = "servicekit.example"


def test_drift_reports_each_difference_clearly() -> None:
    lines = drift(Twin("_Sync / _Async", _Sync, _Async, renames={"close": "aclose"}))
    assert lines == [
        "  only in async: flush: method (self)",
        "  get:\n"
        "    sync:  method (self, key, *, ttl=None)\n"
        "    async: method (self, key, ttl=1.0)",
        "  size:\n    sync:  property\n    async: method (self)",
    ]


def test_async_ness_and_annotations_are_not_drift() -> None:
    def sync(session: int, *, flush: bool = True) -> int:
        return session

    async def async_(session: str, *, flush: bool = True) -> str:
        return session

    assert drift(Twin("f", sync, async_)) == []
