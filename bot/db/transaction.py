"""The transaction: a session that commits on success and rolls back on error, and the guard
that no Bot API call is made while one is open (``bot.delivery.telegram``).

SQLite lets one connection write at a time. Two transactions of this process that both read
and then write would find the file changed under them, so they take turns here (one lock per
file and event loop); a transaction of another process is waited for inside SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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
    database = bind.url.database or ":memory:"
    key = database if database == ":memory:" else str(Path(database).resolve())
    locks = _write_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(key, asyncio.Lock())


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
