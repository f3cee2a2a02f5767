"""Reads on the asyncpg connection itself, with the SQL SQLAlchemy compiled for them.

SQLAlchemy's asyncio layer costs more Python per statement than the statement's own
round trip (a greenlet switch, the connection, cursor and result wrappers). A read
whose result needs no SQLAlchemy processing can skip all of it: the statement is
compiled once per shape (its cache key, as SQLAlchemy's own compiled cache does), and
later statements of that shape only supply their values, in the compiled order.

A plan is made only where the driver's values are what SQLAlchemy would return:
columns and parameters whose types asyncpg converts itself (integers, text, booleans,
numerics as ``Decimal``, floats, dates and times, UUIDs, bytes), or type decorators on
top of one, whose ``process_bind_param``/``process_result_value`` run here. Anything
else (enums, JSON, arrays, expanding ``IN`` parameters) gets no plan, and the caller
runs the statement through SQLAlchemy instead.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy import BindParameter, bindparam, exc, types
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Insert, Select

from servicekit.database import engine as primary
from servicekit.database._options import may_autocommit
from servicekit.database._translation import _first_line, translated
from servicekit.database.session import _pool_timeout
from servicekit.errors import DatabaseError, DatabaseUnavailableError

# Types whose asyncpg value is the value SQLAlchemy's asyncpg dialect returns. Enum is a
# String, and Float a Numeric: both are checked before these (see _native).
_NATIVE = (
    types.Integer,
    types.String,
    types.Boolean,
    types.DateTime,
    types.Date,
    types.Time,
    types.Uuid,
    types.LargeBinary,
)
# Statement shapes remembered per dialect; past this many, the memory starts again (a
# service has a fixed set of queries: only ad-hoc SQL would ever reach it).
_PLANS_KEPT = 1000

# A type decorator's process_bind_param or process_result_value: (value, dialect) -> value.
Converter = Callable[[Any, Dialect], Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled read: its SQL, where each value comes from, and the result's keys."""

    sql: str
    # For each $n in order: the index of its value among the cache key's parameters.
    positions: tuple[int, ...]
    binds: tuple[Converter | None, ...]
    keys: tuple[str, ...]
    results: tuple[Converter | None, ...]
    dialect: Dialect
    # It changes rows: run outside a transaction, it commits by itself, so a link lost
    # while it ran leaves the change unknown (DatabaseUnavailableError.ambiguous).
    writes: bool = False

    def arguments(self, values: Sequence[Any]) -> list[Any]:
        """The statement's values (in its cache key's order) as the SQL's $1, $2 ..."""
        return [
            value if bind is None else bind(value, self.dialect)
            for value, bind in zip(
                (values[position] for position in self.positions), self.binds, strict=True
            )
        ]

    def rows(self, records: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
        """The records as dicts keyed like SQLAlchemy's result, values converted."""
        keys, results, dialect = self.keys, self.results, self.dialect
        if not any(results):
            return [dict(record) for record in records]  # labelled: the keys are ours
        return [
            {
                key: value if convert is None else convert(value, dialect)
                for key, value, convert in zip(keys, record, results, strict=True)
            }
            for record in records
        ]


class Planner:
    """The plans of one dialect, made on first use of each statement shape."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._plans: dict[Any, Plan | None] = {}
        self._inserts: dict[tuple[Insert, tuple[str, ...]], InsertPlan | None] = {}

    def plan(self, statement: Select[Any]) -> tuple[Plan, list[Any]] | None:
        """The plan for ``statement`` and its positional arguments, or ``None`` when the
        statement must go through SQLAlchemy."""
        return self.plan_derived(None, statement, (), _unchanged)

    def plan_derived(
        self,
        name: Any,
        statement: Select[Any],
        extra: Sequence[Any],
        derive: Callable[[Select[Any], tuple[BindParameter[Any], ...]], Select[Any]],
    ) -> tuple[Plan, list[Any]] | None:
        """The plan of ``derive(statement, parameters)`` and its arguments: the statement's
        own values, then ``extra``'s for ``parameters``. Made once per ``name`` and shape of
        ``statement``, so the derived statement is neither built nor keyed again."""
        key = statement._generate_cache_key()
        if key is None:
            return None
        values = [parameter.effective_value for parameter in key.bindparams]
        plan: Plan | None = self._plans.get((name, key.key), _UNSEEN)
        if plan is _UNSEEN:
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            added: tuple[BindParameter[Any], ...] = tuple(
                bindparam(f"servicekit_{i}") for i in range(len(extra))
            )
            derived = derive(statement, added)
            plan = _make_plan(derived, [*key.bindparams, *added], self._dialect)
            self._plans[(name, key.key)] = plan
        if plan is None:
            return None
        return plan, plan.arguments([*values, *extra])

    def plan_fixed(self, statement: Select[Any], parameters: Sequence[str]) -> Plan | None:
        """The plan of a statement made once, whose only parameters are ``parameters``
        (no values of their own): its arguments are then their values, in that order."""
        plan: Plan | None = self._plans.get(statement, _UNSEEN)
        if plan is _UNSEEN:
            key = statement._generate_cache_key()
            if key is not None and [p.key for p in key.bindparams] == list(parameters):
                plan = _make_plan(statement, key.bindparams, self._dialect)
            else:
                plan = None
            self._plans[statement] = plan
        return plan

    def plan_insert(self, statement: Insert, keys: tuple[str, ...]) -> InsertPlan | None:
        """The plan of ``statement`` (an ``INSERT .. RETURNING`` whose values come with
        each execution) for rows that set exactly ``keys``; made once per shape."""
        plan: InsertPlan | None = self._inserts.get((statement, keys), _UNSEEN)
        if plan is _UNSEEN:
            plan = self._inserts[(statement, keys)] = _make_insert_plan(
                statement, keys, self._dialect
            )
        return plan


@dataclass(frozen=True, slots=True)
class InsertPlan:
    """A compiled insert: the values sent, then the Python-side defaults of the columns
    they leave unset (``default=``), computed per row as SQLAlchemy's prefetch does."""

    plan: Plan
    keys: tuple[str, ...]
    defaults: tuple[Callable[[], Any], ...]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The statement's $1, $2 .. for one row's ``values``."""
        sent = [values[key] for key in self.keys]
        return self.plan.arguments(sent + [default() for default in self.defaults])


def _unchanged(statement: Select[Any], _parameters: tuple[BindParameter[Any], ...]) -> Select[Any]:
    return statement


_UNSEEN: Any = object()


def _make_plan(statement: Select[Any], parameters: Sequence[Any], dialect: Dialect) -> Plan | None:
    compiled: Any = statement.compile(dialect=dialect)
    index = {compiled.bind_names[parameter]: i for i, parameter in enumerate(parameters)}
    return _plan_of(compiled, index, dialect)


def _plan_of(compiled: Any, index: Mapping[str, int], dialect: Dialect) -> Plan | None:
    """The plan of ``compiled``, whose parameter named ``n`` is value ``index[n]``."""
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None
    if any(name not in index for name in compiled.positiontup):
        return None  # a parameter the values do not carry: leave it to SQLAlchemy
    try:
        binds = [_converter(compiled.binds[name].type, bind=True) for name in compiled.positiontup]
        results = [
            _converter(column[3], bind=False, driver=dialect.driver)
            for column in compiled._result_columns
        ]
    except _NotNative:
        return None
    return Plan(
        sql=compiled.string,
        positions=tuple(index[name] for name in compiled.positiontup),
        binds=tuple(binds),
        keys=tuple(column[0] for column in compiled._result_columns),
        results=tuple(results),
        dialect=dialect,
        writes=bool(compiled.isinsert or compiled.isupdate or compiled.isdelete),
    )


def _make_insert_plan(
    statement: Insert, keys: tuple[str, ...], dialect: Dialect
) -> InsertPlan | None:
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
    prefetched = list(compiled.insert_prefetch)
    try:
        defaults = tuple(_python_default(column) for column in prefetched)
    except _NotNative:
        return None
    # Positional parameters indexed as the values will be: the keys, then the defaults.
    parameters = [*keys, *(column.key for column in prefetched)]
    plan = _plan_of(compiled, {name: i for i, name in enumerate(parameters)}, dialect)
    return None if plan is None else InsertPlan(plan, keys, defaults)


def _python_default(column: Any) -> Callable[[], Any]:
    """The column's default as a call with no arguments: a constant, or a function that
    takes none (SQLAlchemy wraps those, keeping the original as ``__wrapped__``). A
    default that reads the execution context is left to SQLAlchemy."""
    default = column.default
    if default is not None and default.is_scalar:
        value = default.arg
        return lambda: value
    if default is not None and default.is_callable:
        wrapped = getattr(default.arg, "__wrapped__", None)
        if wrapped is not None and not _required_parameters(wrapped):
            return cast("Callable[[], Any]", wrapped)
    raise _NotNative


def _required_parameters(function: Callable[..., Any]) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return ["unknown"]
    return [
        name
        for name, parameter in signature.parameters.items()
        if parameter.default is parameter.empty
        and parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]


class _NotNative(Exception):
    """A type whose values SQLAlchemy converts: the statement is left to SQLAlchemy."""


def _converter(type_: Any, *, bind: bool, driver: str = "") -> Converter | None:
    """``None`` for a native type, the decorator's own conversion for a type decorator
    on one (unless it says ``driver``'s values need none: ``results_final_from``);
    :class:`_NotNative` for anything else."""
    if isinstance(type_, types.TypeDecorator):
        if not _native(type_.impl_instance):
            raise _NotNative
        if bind:
            return type_.process_bind_param
        if driver in getattr(type_, "results_final_from", ()):
            return None
        return type_.process_result_value
    if _native(type_) or isinstance(type_, types.NullType):
        return None
    raise _NotNative


def _native(type_: Any) -> bool:
    if isinstance(type_, types.Enum | types.ARRAY | types.JSON):
        return False
    if isinstance(type_, types.Float):
        return not type_.asdecimal
    if isinstance(type_, types.Numeric):
        return bool(type_.asdecimal)
    return isinstance(type_, _NATIVE)


def driver_engine(bound: AsyncEngine | None) -> AsyncEngine | None:
    """``bound`` if its asyncpg connections may run statements directly: not a test's
    pinned transaction (statements join it, through a session), not behind PgBouncer
    (the timeouts are set per transaction there), nor another driver."""
    if bound is None or primary._pinned("async"):
        return None
    if bound.sync_engine.dialect.driver != "asyncpg":
        return None
    return bound if may_autocommit(bound.sync_engine) else None


def planner_of(engine: AsyncEngine) -> Planner:
    """The plans made for ``engine``'s dialect (kept as long as the engine lives)."""
    planner = _planners.get(engine.sync_engine)
    if planner is None:
        planner = _planners[engine.sync_engine] = Planner(engine.dialect)
    return planner


_planners: weakref.WeakKeyDictionary[Engine, Planner] = weakref.WeakKeyDictionary()


async def fetch_all(
    engine: AsyncEngine, plans: Sequence[tuple[Plan, list[Any]]]
) -> list[list[dict[str, Any]]]:
    """Each plan's rows, run on one connection of ``engine``'s pool, outside a
    transaction: an ``INSERT`` is committed when its rows are back."""
    try:
        async with engine.connect() as connection:
            return [
                plan.rows(await fetch(connection, plan, arguments)) for plan, arguments in plans
            ]
    except PoolTimeoutError as error:  # as the sessions raise it (see database.session)
        raise _pool_timeout(error) from error


async def fetch(connection: AsyncConnection, plan: Plan, arguments: Sequence[Any]) -> list[Any]:
    """Run ``plan`` on ``connection``'s asyncpg connection; errors as SQLAlchemy would
    raise them through servicekit's engine (a lost link invalidates the connection)."""
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
    try:
        return await driver.fetch(plan.sql, *arguments)
    except asyncpg.PostgresError as error:
        typed = translated(error, statement=plan.sql)
        if isinstance(typed, DatabaseUnavailableError):
            await connection.invalidate(error)
            typed.ambiguous = plan.writes
        raise typed or _as_sqlalchemy(plan, arguments, error) from error
    except (TimeoutError, OSError, asyncpg.InternalClientError) as error:
        # InternalClientError: the server ended an idle pooled connection just as this
        # statement started on it ("cannot switch to state .."): a lost link as well.
        await connection.invalidate(error)
        raise _link_lost(error, plan) from error
    except asyncpg.InterfaceError as error:
        if not driver.is_closed():  # refused in the client (a value out of range): no harm
            raise _as_sqlalchemy(plan, arguments, error) from error
        await connection.invalidate(error)
        raise _link_lost(error, plan) from error
    except BaseException as error:  # cancelled mid-statement: the link's state is unknown
        await asyncio.shield(connection.invalidate(error))
        raise


# The classes SQLAlchemy's asyncpg dialect raises for these SQLSTATE classes (see its
# _asyncpg_error_translate); any other server error is a plain DBAPIError there too.
_ERROR_CLASSES: dict[str, type[exc.DBAPIError]] = {
    "23": exc.IntegrityError,  # integrity constraint violation: unique, foreign key ..
    "42": exc.ProgrammingError,  # syntax error or access rule violation
    "XX": exc.InternalError,
}


def _as_sqlalchemy(plan: Plan, arguments: Sequence[Any], error: Exception) -> Exception:
    # A constraint violation, bad SQL, a missing table: the DBAPIError subclass SQLAlchemy
    # would raise (its .orig the driver's error); a value the driver refused in the
    # client: the StatementError.
    if isinstance(error, asyncpg.PostgresError):
        kind = _ERROR_CLASSES.get((error.sqlstate or "")[:2], exc.DBAPIError)
        return kind(plan.sql, list(arguments), error)
    return exc.DBAPIError.instance(plan.sql, list(arguments), error, asyncpg.PostgresError)


def _link_lost(error: BaseException, plan: Plan) -> DatabaseError:
    message = f"database unavailable (connection lost): {_first_line(error)}"
    return DatabaseUnavailableError(message, ambiguous=plan.writes)
