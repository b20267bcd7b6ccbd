"""The transaction: a session that commits on success and rolls back on error, and the guard
that no Bot API call is made while one is open (``bot.delivery.telegram``).

SQLite lets one connection write at a time. Two transactions of this process that both read
and then write would find the file changed under them, so they take turns here (one lock per
file and event loop); a transaction of another process is waited for inside SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

# Set while the current task holds a transaction open: Bot API calls refuse to run then.
_in_transaction: ContextVar[bool] = ContextVar("mentordesk_in_transaction", default=False)

_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def transaction_open() -> bool:
    return _in_transaction.get()


@contextmanager
def holding_transaction() -> Iterator[None]:
    """Mark the code inside as running in a transaction."""
    token = _in_transaction.set(True)
    try:
        yield
    finally:
        _in_transaction.reset(token)


def write_lock(session_factory: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    """The lock a transaction on this database takes first (SQLite only), one per file."""
    bind = session_factory.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or bind.dialect.name != "sqlite":
        return None
    locks = _write_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(_file_of(bind.url.database or ":memory:"), asyncio.Lock())


@functools.cache
def _file_of(database: str) -> str:
    """The database file, whichever way its path was written (one lock for one file)."""
    return database if database == ":memory:" else str(Path(database).resolve())


async def connection_of(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's transaction, for the Core statements every request runs
    (``Session.execute`` would take each through the ORM's machinery as well). What the session
    holds unflushed is flushed first, as ``Session.execute`` would do, so they see it."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return await session.connection()


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
