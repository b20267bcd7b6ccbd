"""Pooled PostgreSQL connections: checked when they waited in the pool, not while busy.

PostgreSQL only (the suite's PostgreSQL pass; SQLite opens its file and has nothing to check).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import create_engine
from bot.db import engine as db


@pytest.fixture
async def pooled(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[float], AsyncEngine]]:
    """An engine on the test's PostgreSQL database whose idle connections are checked after
    the seconds given."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a pooled server connection: runs in the suite's PostgreSQL pass")
    engines: list[AsyncEngine] = []

    def engine(idle_seconds: float) -> AsyncEngine:
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", idle_seconds)
        engines.append(create_engine(database_url))
        return engines[-1]

    yield engine
    for created in engines:
        await created.dispose()


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def _count_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


async def test_a_connection_closed_by_the_server_while_idle_is_replaced_before_use(
    pooled: Callable[[float], AsyncEngine], database_url: str
) -> None:
    engine = pooled(0.05)
    first = await _backend(engine)
    # The server ends the pooled connection's session: a restart, or a proxy's timeout.
    admin = await asyncpg.connect(
        make_url(database_url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)
    assert await _backend(engine) != first


async def test_a_connection_handed_on_at_once_is_not_checked(
    pooled: Callable[[float], AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = pooled(0.3)
    pings = _count_pings(engine, monkeypatch)
    backends = {await _backend(engine) for _ in range(20)}
    assert len(backends) == 1 and pings == []
    await asyncio.sleep(0.4)
    assert await _backend(engine) in backends
    assert pings == [1]
