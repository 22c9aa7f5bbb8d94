"""Writing rows with cached Core statements on the hot paths (issue 20).

On the purchase path the ORM costs several times the CPU of the SQL it sends: an
INSERT through the unit of work (or an ORM-enabled `insert(Model)`) took about
0.8 ms of the API's CPU where a Core INSERT of the same row on the same session
took 0.2 ms, about what raw asyncpg takes (`ops/bench/README.md`). A row that is
only written, and never changed again through its object in that session (an
event, an audit row, a simulator's ledger row), goes out as a Core INSERT of its
table; its object stays transient, a value holder. A row whose object changes
later (a transaction) is inserted the same way and then attached to the session.

Core statements do not autoflush: a caller that needs the session's pending
changes sent first (a row lock to order by) flushes itself.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached, object_mapper
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault


@cache
def insert_of(table: Table) -> Insert:
    """The table's INSERT; its columns come from the parameters at execution (the
    compiled form is cached per set of parameter names)."""
    return insert(table)


def row_values(instance: object) -> dict[str, Any]:
    """The column values an object was given, by column key: what the unit of work
    would insert (an attribute never set is left to the column's default)."""
    given = inspect(instance).dict
    return {
        attribute.columns[0].key: given[attribute.key]
        for attribute in object_mapper(instance).column_attrs
        if attribute.key in given
    }


async def insert_row(session: AsyncSession, instance: object) -> None:
    """Insert the object's row in the session's transaction, without tracking it."""
    table = object_mapper(instance).local_table
    assert isinstance(table, Table)
    await session.execute(insert_of(table), row_values(instance))


async def insert_tracked(session: AsyncSession, instance: object) -> None:
    """Insert the object's row as the unit of work would, then make the object the
    session's own (persistent, nothing pending), so that later changes to it flush
    as UPDATEs. Every column is given a value first (an unset one its Python-side
    default, else NULL, as the unit of work sends), so no attribute is left to load
    (an async session cannot load one lazily)."""
    mapper = object_mapper(instance)
    given = inspect(instance).dict
    for attribute in mapper.column_attrs:
        if attribute.key in given:
            continue
        column = attribute.columns[0]
        default = column.default
        if default is None and column.server_default is not None:
            raise TypeError(f"{column} has only a database default: insert it through the ORM")
        value = None
        if isinstance(default, ScalarElementColumnDefault):
            value = default.arg
        elif isinstance(default, CallableColumnDefault):
            # SQLAlchemy wraps a default of no arguments (`dict`) to take the
            # execution context, which it then ignores: there is none here.
            value = default.arg(None)  # type: ignore[arg-type]
        setattr(instance, attribute.key, value)
    await insert_row(session, instance)
    make_transient_to_detached(instance)
    session.add(instance)
