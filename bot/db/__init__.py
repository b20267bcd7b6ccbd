"""Database engine, session factory and migrations applied from inside the running loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

import migrations
from bot import codec, deferred, memo
from bot.db import sqlite_inline

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
# Any fixed number: replicas starting together take turns at migrating (PostgreSQL only).
MIGRATION_LOCK = 7_146_011


def create_engine(url: str) -> AsyncEngine:
    """An engine for SQLite (WAL, foreign keys, patient locks) or PostgreSQL."""
    parsed = make_url(url)
    json = {"json_serializer": codec.dumps, "json_deserializer": codec.loads}
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(url, **json)
        # Many rows inserted at once go as one statement of many rows, as with psycopg2, rather
        # than asyncpg's one execution per row: the server's work per statement is paid once.
        engine.dialect.use_insertmanyvalues_wo_returning = True
        _ping_after_idle(engine)
        deferred.install(engine.sync_engine)
        memo.install(engine.sync_engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        async_creator=sqlite_inline.connector(parsed.database or ":memory:", timeout=30),
        **json,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A killed process loses nothing committed with NORMAL in WAL mode; only a power cut
        # can cost the last transactions, and the commits no longer wait for the disk.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    deferred.install(engine.sync_engine)
    memo.install(engine.sync_engine)
    return engine


# A pooled connection left unused this long is checked before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "mentordesk.idle_since"


def _ping_after_idle(engine: AsyncEngine) -> None:
    """Check a connection that waited in the pool before using it (the server may have closed
    it meanwhile: a restart, a proxy's idle timeout); a dead one is replaced at once.

    SQLAlchemy's ``pool_pre_ping`` checks every checkout, and asyncpg's check is three round
    trips (a transaction around an empty query): under a burst, more than a quarter of each
    update's. A connection handed on within a second is not checked; should it have died
    all the same, its statement fails, the pool is renewed, and the update is handled again.
    """

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
            raise DisconnectionError(str(error)) from error


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_of(session: AsyncSession) -> str:
    """``sqlite`` or ``postgresql``: the few statements that differ look here."""
    return session.get_bind().dialect.name


async def core(session: AsyncSession, *, flush: bool = True) -> AsyncConnection:
    """The connection of the session's transaction, for Core statements on the hot paths.

    ``Session.execute`` takes a Core statement through the ORM's machinery as well, which
    costs about as much again as the statement on SQLite; every request runs several. What
    the session holds unflushed is flushed first, as ``Session.execute`` would do, unless
    ``flush`` is False (the outbox: its rows depend on nothing pending).
    """
    if flush and (session.new or session.dirty or session.deleted):
        await session.flush()
    current = session.sync_session.get_transaction()
    held: tuple[object, AsyncConnection] | None = session.info.get(_CORE)
    if held is None or held[0] is not current:
        held = session.info[_CORE] = (current, await session.connection())
    return held[1]


_CORE = "mentordesk.core"


# Set while the current task holds a transaction open: Bot API calls refuse to run then.
_in_transaction: ContextVar[bool] = ContextVar("mentordesk_in_transaction", default=False)


def transaction_open() -> bool:
    return _in_transaction.get()


@contextmanager
def holding_transaction() -> Iterator[None]:
    """Mark the code inside as running in a transaction (see ``bot.delivery.telegram``)."""
    token = _in_transaction.set(True)
    try:
        yield
    finally:
        _in_transaction.reset(token)


class WriteLock(asyncio.Lock):
    """The turn at writing to one SQLite file, in this process (``write_lock``).

    ``lend`` holds it for a transaction of another process's (the sender's); while that
    waits, ``asked`` tells a transaction that handles several updates to end early for it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def lend(self, until: asyncio.Event, longest: float) -> asyncio.Task[None]:
        """From now on ``asked``; once free, held until ``until`` is set (``longest`` s at most)."""
        self.asked += 1
        return asyncio.create_task(self._lent(until, longest), name="lent-write-lock")

    async def _lent(self, until: asyncio.Event, longest: float) -> None:
        try:
            await self.acquire()
        finally:
            self.asked -= 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), longest)
        finally:
            self.release()


# SQLite lets one connection write at a time, and a connection that finds the file locked
# waits, here in the event loop's own thread (``bot.db.sqlite_inline``); so this process's writing
# transactions on one file take turns here instead, and never wait on each other in SQLite.
_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WriteLock]] = (
    weakref.WeakKeyDictionary()
)


@functools.cache
def _database_file(database: str) -> str:
    return database if database == ":memory:" else str(Path(database).resolve())


def write_lock(session_factory: async_sessionmaker[AsyncSession]) -> WriteLock | None:
    """The lock a transaction on this database takes first (SQLite only), one per file."""
    bind = session_factory.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or bind.dialect.name != "sqlite":
        return None
    key = _database_file(bind.url.database or ":memory:")
    locks = _write_locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = WriteLock()
    return lock


@asynccontextmanager
async def transaction(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that commits on success and rolls back on error."""
    lock = write_lock(session_factory)
    async with lock if lock is not None else contextlib.nullcontext():
        with holding_transaction():
            async with session_factory.begin() as session:
                yield session


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration built in code, so migrations run from an installed package too."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Held to the end of the transaction: a second replica waits, then finds nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations on the engine's own connection (Alembic's connection-sharing recipe)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)
