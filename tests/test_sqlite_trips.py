"""SQLite statements in one trip to aiosqlite's thread, answering as SQLAlchemy's cursor does:
rows, rowcount, new ids, errors; and a connection handed back with a transaction left open
is rolled back, one closed cleanly is not touched again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    created = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    async with created.begin() as connection:
        await connection.execute(
            text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)")
        )
    yield created
    await created.dispose()


def count_trips(connection: Any) -> list[int]:
    """Count the jobs sent to the aiosqlite connection's thread from now on."""
    trips = [0]
    queue = connection.driver_connection._tx
    put = queue.put_nowait

    class Counting:
        def put_nowait(self, item: Any) -> None:
            trips[0] += 1
            put(item)

        def __getattr__(self, name: str) -> Any:
            return getattr(queue, name)

    connection.driver_connection._tx = Counting()
    return trips


def in_transaction(connection: Any) -> bool:
    return bool(connection.driver_connection.in_transaction)


async def test_a_statement_is_one_trip_with_its_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        raw = await connection.get_raw_connection()
        trips = count_trips(raw)
        inserted = await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await connection.execute(
            text("INSERT INTO notes (body) VALUES (:body)"), [{"body": "b"}, {"body": "c"}]
        )
        rows = (await connection.execute(text("SELECT id, body FROM notes ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "a"), (2, "b"), (3, "c")]
        changed = await connection.execute(text("UPDATE notes SET body = body || '!'"))
        assert changed.rowcount == 3
        assert trips[0] == 4  # four statements: four trips, none to open or close cursors


async def test_errors_are_sqlalchemys_and_change_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES ('same')"))
    with pytest.raises(exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('other')"))
            await connection.execute(text("INSERT INTO notes (body) VALUES ('same')"))
    with pytest.raises(exc.OperationalError):
        async with engine.connect() as connection:
            await connection.execute(text("SELECT nothing FROM nowhere"))
    async with engine.connect() as connection:
        bodies = (await connection.execute(text("SELECT body FROM notes"))).scalars().all()
    assert bodies == ["same"]


async def test_an_open_transaction_is_rolled_back_when_the_connection_returns(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES ('left open')"))
        assert in_transaction(await connection.get_raw_connection())
    # Returned to the pool without a commit: the pool's reset rolled it back.
    async with engine.connect() as connection:
        assert not in_transaction(await connection.get_raw_connection())
        count = await connection.scalar(text("SELECT count(*) FROM notes"))
    assert count == 0


async def test_a_committed_connection_goes_back_without_another_trip(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        trips = count_trips(raw)
        await connection.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
        await connection.commit()
    assert trips[0] == 2  # the statement and the commit; no rollback on the way back
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT body FROM notes")) == "kept"
