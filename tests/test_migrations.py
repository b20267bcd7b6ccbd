"""Every migration goes up and down on the test database (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

import asyncio
import json

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


async def test_topics_get_polish_titles_and_hashtags(database_url: str) -> None:
    """The default topics get their Polish titles and hashtags; a topic a deployment added
    itself shows its English title to Polish readers; going down removes only what was added."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0007")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO topics (code, title_ru, title_en, hashtags, keywords, position,"
                    " active) VALUES ('sport', 'Спорт', 'Sport', :tags, '[]', 9, :yes)"
                ),
                {"tags": '["спорт", "inne"]', "yes": True},
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            rows = {
                code: (title, json.loads(tags) if isinstance(tags, str) else tags)
                for code, title, tags in await connection.execute(
                    text("SELECT code, title_pl, hashtags FROM topics")
                )
            }
        assert rows["legal"] == ("Kwestie prawne", ["юрист", "право", "legal", "law", "prawnik",
                                                    "prawo"])  # fmt: skip
        assert rows["sport"] == ("Sport", ["спорт", "inne"])
        # "inne" already named the deployment's own topic: it stays there alone.
        assert rows["other"] == ("Inne", ["другое", "other", "вопрос", "pytanie"])
        await downgrade(engine, "0007")
        async with engine.connect() as connection:
            legal = await connection.scalar(text("SELECT hashtags FROM topics WHERE code='legal'"))
        assert (json.loads(legal) if isinstance(legal, str) else legal) == [
            "юрист", "право", "legal", "law"
        ]  # fmt: skip
    finally:
        await engine.dispose()
