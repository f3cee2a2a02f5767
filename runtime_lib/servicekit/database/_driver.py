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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import BindParameter, bindparam, exc, types
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from servicekit.database._translation import _first_line, translated
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

    def plan(self, statement: Select[Any]) -> tuple[Plan, list[Any]] | None:
        """The plan for ``statement`` and its positional arguments, or ``None`` when the
        statement must go through SQLAlchemy."""
        key = statement._generate_cache_key()
        if key is None:
            return None
        values = [parameter.effective_value for parameter in key.bindparams]
        plan = self._plans.get(key.key, _UNSEEN)
        if plan is _UNSEEN:
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            plan = self._plans[key.key] = _make_plan(statement, key.bindparams, self._dialect)
        if plan is None:
            return None
        return plan, plan.arguments(values)

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


_UNSEEN: Any = object()


def _make_plan(statement: Select[Any], parameters: Sequence[Any], dialect: Dialect) -> Plan | None:
    compiled: Any = statement.compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None
    index = {compiled.bind_names[parameter]: i for i, parameter in enumerate(parameters)}
    if any(name not in index for name in compiled.positiontup):
        return None  # a parameter the cache key does not carry: leave it to SQLAlchemy
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
    )


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
        raise typed or _as_sqlalchemy(plan, arguments, error) from error
    except (TimeoutError, OSError) as error:
        await connection.invalidate(error)
        raise _link_lost(error) from error
    except asyncpg.InterfaceError as error:
        if not driver.is_closed():  # refused in the client (a value out of range): no harm
            raise _as_sqlalchemy(plan, arguments, error) from error
        await connection.invalidate(error)
        raise _link_lost(error) from error
    except BaseException as error:  # cancelled mid-statement: the link's state is unknown
        await asyncio.shield(connection.invalidate(error))
        raise


def _as_sqlalchemy(plan: Plan, arguments: Sequence[Any], error: Exception) -> Exception:
    # Bad SQL, a missing table, a value the driver cannot send: the DBAPIError (or, for
    # an error raised in the client, the StatementError) SQLAlchemy would raise.
    return exc.DBAPIError.instance(plan.sql, list(arguments), error, asyncpg.PostgresError)


def _link_lost(error: BaseException) -> DatabaseError:
    return DatabaseUnavailableError(f"database unavailable (connection lost): {_first_line(error)}")
