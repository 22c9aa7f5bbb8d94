"""SQLAlchemy 2 async engine, sessions and the declarative base."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from litestar.datastructures import State
from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic can drop and alter what it created.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """The request's session: commits when the handler returns, rolls back when it raises.

    Litestar closes this dependency before the response is sent, so a failed
    commit still turns into an error response rather than a false success.
    """
    session_factory: async_sessionmaker[AsyncSession] = state.resources.session_factory
    async with session_factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


# A pooled connection idle at least this long is pinged before it is lent again.
IDLE_PING_S = 2.0


def ping_when_idle(engine: AsyncEngine, idle_s: float = IDLE_PING_S) -> None:
    """Pre-ping, only for connections that sat idle in the pool.

    SQLAlchemy's `pool_pre_ping` pings at every checkout, and on asyncpg a ping is
    three round trips (BEGIN, an empty query, ROLLBACK): a purchase checks out
    six connections, so eighteen round trips went to pings. A connection back in
    the pool a moment ago is as alive as a ping would prove; one idle longer (a
    failover, a server restart, a dropped backend since) is pinged, and a dead one
    is replaced before the session sees it. A connection that dies in use is
    still noticed: the error invalidates the pool's older connections."""
    pool = engine.sync_engine.pool

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < idle_s:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool discards the connection and checks out another.
            raise DisconnectionError("idle pooled connection failed its ping") from error

    event.listen(pool, "checkin", checked_in)
    event.listen(pool, "checkout", checked_out)


_RETURNED = "gateway_returned_at"
