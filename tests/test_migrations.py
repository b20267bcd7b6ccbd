"""Every migration goes up and down on the test database (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db import MIGRATION_LOCK, create_engine, downgrade, upgrade
from models import Base


async def _tables(connection: AsyncConnection) -> set[str]:
    return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            tables = await _tables(connection)
            assert set(Base.metadata.tables) <= tables
            codes = (await connection.execute(text("SELECT code FROM topics"))).scalars().all()
            assert {"legal", "grants", "rehabilitation", "business", "psychology", "education",
                    "other"} <= set(codes)  # fmt: skip
        await downgrade(engine, "base")
        async with engine.connect() as connection:
            assert await _tables(connection) <= {"alembic_version"}
        await upgrade(engine)
        async with engine.connect() as connection:
            assert set(Base.metadata.tables) <= await _tables(connection)
    finally:
        await engine.dispose()


async def test_models_match_migrations(database_url: str) -> None:
    """Autogenerate finds nothing to do: the models and the migrations describe one schema."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == []
    finally:
        await engine.dispose()


async def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    """Two bot processes start at the same moment on one PostgreSQL database: the second
    waits for the first's migration lock, then finds nothing left to do."""
    if not database_url.startswith("postgresql"):
        pytest.skip("one process serves an SQLite file; replicas need PostgreSQL (run in CI)")
    holder, *engines = [create_engine(database_url) for _ in range(3)]
    try:
        async with holder.connect() as held:
            # Another replica is migrating: it holds the lock the migrations take.
            await held.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            waiting = asyncio.create_task(upgrade(engines[0]))
            await asyncio.sleep(1.0)
            assert not waiting.done(), "a migration ran while another replica held the lock"
            async with engines[1].connect() as connection:
                assert await _tables(connection) <= {"alembic_version"}
            await held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            await asyncio.wait_for(waiting, 60)
        # Both at once: neither fails (no table created twice), one version row at head.
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        async with engines[0].connect() as connection:
            versions = (await connection.execute(text("SELECT * FROM alembic_version"))).all()
            assert set(Base.metadata.tables) <= await _tables(connection)
        assert len(versions) == 1
    finally:
        for engine in (holder, *engines):
            await engine.dispose()
