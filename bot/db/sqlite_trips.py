"""SQLAlchemy's aiosqlite adapter, taking each statement to aiosqlite's thread in one trip.

SQLAlchemy's own cursor makes three or four trips a statement (open a cursor, execute, fetch
the rows, close), each a hand-over to aiosqlite's thread and a wake-up of the event loop; a
request runs about a dozen statements. Here the statement, its rows and the cursor's close
are one job on the same thread and queue aiosqlite runs everything on (as SQLAlchemy's own
``isolation_level`` setter does), so the connection is still aiosqlite's, and the answer the
same: rows, description, rowcount, lastrowid, the same errors.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# What a statement leaves behind: its description, rows, rowcount and lastrowid.
_Answer = tuple[Any, list[Any], int, int | None]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Answer:
    """On aiosqlite's thread: the statement, its rows, and the cursor closed."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement is one trip to aiosqlite's thread; its rows are read here."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # No cursor is opened on the thread: each statement opens and closes its own there.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        """Rows are all read at once: the size asked for changes nothing."""

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._trip(operation, () if parameters is None else parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: str, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        try:
            answer: _Answer = await_(
                _on_thread(connection, lambda: _run(connection._conn, operation, parameters, many))
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = answer
        self._rows = deque(rows)

    async def _async_soft_close(self) -> None:
        """The cursor was closed on the thread with its statement."""

    def close(self) -> None:
        self._rows.clear()


async def _on_thread(connection: aiosqlite.Connection, job: Callable[[], _Answer]) -> _Answer:
    """``job`` run on the connection's thread, in turn with everything else sent there."""
    if connection._connection is None:
        raise ValueError("no active connection")
    future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
    connection._tx.put_nowait((future, job))
    return await future


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy's DB-API module, handing out ``OneTripConnection``s."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    """The ``module`` an SQLite engine is created with."""
    return OneTripDBAPI(aiosqlite, sqlite3)
