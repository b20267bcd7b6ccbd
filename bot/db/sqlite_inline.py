"""SQLite for the event loop itself: the ``aiosqlite`` interface SQLAlchemy drives, run inline.

aiosqlite hands every call to a thread of its own and back, several times per statement;
that round trip costs about five times the statement itself, and it is paid while the
writing transaction holds the database. SQLite answers from memory or a local file in
microseconds, and this process lets one transaction write at a time (``bot.db.write_lock``),
so the calls run directly here: the same sqlite3 module, no thread in between.

A statement that finds the file locked by another connection must not wait inside SQLite:
that would stop the event loop, and with it the holder of the lock, if it runs here too. So
SQLite is told not to wait at all, and the statement is tried again after a short
``asyncio.sleep``, until the timeout passes.

A process that writes beside a busier one (the sender process beside the bot's) may find the
file locked at every try: the other process starts its next transaction as soon as one ends.
``on_contention`` lets it ask for a turn: ``asked`` runs when one of its statements first finds
the file locked, ``finished`` when that transaction has ended; the bot process holds back its
own transactions meanwhile (``bot.delivery.sender_process``).

Used through ``create_async_engine(url, async_creator=...)`` with SQLAlchemy's own aiosqlite
dialect, which takes any connection object offering aiosqlite's methods.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# The longest pause between tries: a turn handed over (``on_contention``) is taken within it.
MAX_DELAY = 0.002


class _Contention:
    """What this process does when its writes find the file locked (``on_contention``)."""

    asked: Callable[[], None] | None = None
    finished: Callable[[], None] | None = None
    waiting = False  # asked, and its transaction not yet ended


def on_contention(asked: Callable[[], None] | None, finished: Callable[[], None] | None) -> None:
    """Have this process ask for a turn at writing when it finds the file locked."""
    _Contention.asked, _Contention.finished, _Contention.waiting = asked, finished, False


def _ended() -> None:
    """A transaction ended: a turn asked for is over."""
    if _Contention.waiting:
        _Contention.waiting = False
        if _Contention.finished is not None:
            _Contention.finished()


async def _patiently(call: Callable[[], T], timeout: float) -> T:
    """Run ``call``; while SQLite says the file is locked, let the loop run, then retry."""
    deadline = time.monotonic() + timeout
    # The other process holds the lock for a fraction of a millisecond: the first retries
    # come soon, and back off from there.
    delay = 0.0001
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        if not _Contention.waiting and _Contention.asked is not None:
            _Contention.waiting = True
            _Contention.asked()
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)


class InlineCursor:
    __slots__ = ("_cursor", "_timeout")

    def __init__(self, cursor: sqlite3.Cursor, timeout: float) -> None:
        self._cursor = cursor
        self._timeout = timeout

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        await _patiently(lambda: self._cursor.execute(sql, parameters), self._timeout)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        rows = list(parameters)
        await _patiently(lambda: self._cursor.executemany(sql, rows), self._timeout)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """The part of ``aiosqlite.Connection`` that SQLAlchemy uses."""

    def __init__(self, connection: sqlite3.Connection, timeout: float) -> None:
        self._conn = connection
        # SQLAlchemy's adapter looks at this to tell whether the connection is still open.
        self._connection: sqlite3.Connection | None = connection
        self._timeout = timeout

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self._timeout)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        try:
            await _patiently(self._conn.commit, self._timeout)
        finally:
            _ended()

    async def rollback(self) -> None:
        try:
            self._conn.rollback()
        finally:
            _ended()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._conn.isolation_level = value


def connector(database: str, *, timeout: float) -> Any:
    """The ``async_creator`` for an engine on the SQLite file ``database``."""

    async def connect() -> InlineConnection:
        # SQLite itself never waits (see above). The same thread always uses a connection,
        # but SQLAlchemy's pool may finalise one from another.
        connection = sqlite3.connect(database, timeout=0, check_same_thread=False)
        return InlineConnection(connection, timeout)

    return connect
