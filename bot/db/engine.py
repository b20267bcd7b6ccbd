"""The database engine and sessions: an SQLite file (WAL, foreign keys, patient locks) or
PostgreSQL; and how to tell a database that is away from any other error."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from bot.db.sqlite_trips import one_trip_dbapi

# How long a statement waits for another process's write to SQLite before it gives up.
SQLITE_BUSY_SECONDS = 30
# A pooled PostgreSQL connection left unused this long is checked before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "mentordesk.idle_since"


def create_engine(url: str) -> AsyncEngine:
    """An engine whose errors and logs never show a statement's values (people's text)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(url, hide_parameters=True)
        _ping_after_idle(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_SECONDS},
        hide_parameters=True,
        module=one_trip_dbapi(),
        # A connection goes back to the pool after its transaction's commit or rollback; the
        # pool's own rollback on top of it (one more trip to aiosqlite's thread for every
        # transaction) is made only when one is still open ("reset" below).
        pool_reset_on_return=None,
        # The connection handed back last is handed out first. The process's transactions take
        # turns (``bot.db.transaction``), so they keep to one connection, and SQLite keeps its
        # page cache between them; a cache is emptied whenever another connection has written
        # (96 page reads a request with the pool's oldest connection first, 5 with its newest).
        pool_use_lifo=True,
    )

    @event.listens_for(engine.sync_engine, "reset")
    def _end_open_transaction(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        if (
            state.asyncio_safe
            and not state.terminate_only
            and dbapi_connection.driver_connection.in_transaction
        ):
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A killed process loses nothing committed with NORMAL in WAL mode; only a power cut
        # can cost the last transactions, and the commits no longer wait for the disk.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # What is deleted or overwritten is zeroed on its page, so an erased person's text does
        # not linger in the file's free space (the WAL is truncated after an erasure).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    return engine


def _ping_after_idle(engine: AsyncEngine) -> None:
    """Check a connection that waited in the pool before using it (the server may have closed
    it meanwhile: a restart, a proxy's idle timeout); a dead one is replaced at once. One
    handed on within a second is not checked: should it have died all the same, its statement
    fails, the pool is renewed, and the work is done again."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool throws this connection away and hands out a new one.
            raise exc.DisconnectionError(str(error)) from error


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_of(session: AsyncSession) -> str:
    """``sqlite`` or ``postgresql``: the few statements that differ look here."""
    return session.get_bind().dialect.name


_NOT_PASSING = ("no such table", "no such column", "syntax error")


def database_unreachable(error: BaseException) -> bool:
    """Whether the error says the database is away (restarting, unreachable, its connection
    lost or its file locked), not that the work was wrong: the work is then done again later,
    not counted against it."""
    seen: BaseException | None = error
    for _ in range(5):  # the error, and what it was raised from
        if seen is None:
            return False
        if isinstance(seen, exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, exc.OperationalError):
            # SQLite says "operational" of a missing table too: that is no passing trouble.
            return not any(word in str(seen) for word in _NOT_PASSING)
        if isinstance(
            seen,
            exc.InterfaceError
            | exc.DisconnectionError
            | exc.TimeoutError
            | ConnectionError
            | OSError
            | asyncio.TimeoutError,
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def truncate_wal(engine: AsyncEngine) -> None:
    """On SQLite, copy the WAL into the database file and empty it, so that the page versions
    an erasure overwrote are nowhere on disk (``secure_delete`` zeroed them in the file); it
    waits for no reader and is tried again by the next run if one held an old snapshot."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
