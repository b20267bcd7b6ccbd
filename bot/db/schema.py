"""Migrations: applied at start by a process of their own, so Alembic never loads into the
bot's; or on an engine's own connection (Alembic's connection-sharing recipe), as that process,
the tests and the benches apply them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from bot.db.engine import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
# Any fixed number: replicas starting together take turns at migrating (PostgreSQL only).
MIGRATION_LOCK = 7_146_011
# The process that applies them at start. Not ``-m bot.db.schema``: ``bot.db`` imports this
# module, which would then run twice.
MIGRATING = "from bot.db.schema import main; main()"


class MigrationFailed(RuntimeError):
    """The migration process ended with an error (written to stderr before this)."""


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration built in code, so migrations run from an installed package too."""
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command  # noqa: PLC0415

    if connection.dialect.name == "postgresql":
        # Held to the end of the transaction: a second replica waits, then finds nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command  # noqa: PLC0415

    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations on the engine's own connection."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)


async def upgrade_at_start(engine: AsyncEngine) -> None:
    """Bring the engine's database to the newest migration, as the bot does at start: nothing
    to do when it is there already (the usual restart); else every migration is applied by a
    process started for it, which has ended when this returns, its errors written to this
    process's stderr and raising ``MigrationFailed`` here. A database in memory, which no other
    process sees, is migrated here instead."""
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        await upgrade(engine)
        return
    if await _at_newest(engine):
        return
    # The URL on stdin, not in the arguments: those are shown to anyone listing processes.
    order = {
        "url": engine.url.render_as_string(hide_password=False),
        "log_level": logging.getLogger().getEffectiveLevel(),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MIGRATING, stdin=asyncio.subprocess.PIPE
    )
    try:
        await process.communicate(json.dumps(order).encode())
    finally:
        if process.returncode is None:  # cancelled: not left running on its own
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode:
        raise MigrationFailed(
            f"the migration process ended with {process.returncode}: its error is written above"
        )


async def _at_newest(engine: AsyncEngine) -> bool:
    """Whether the database is at the newest revision (``migrations.HEAD``)."""
    async with engine.connect() as connection:
        if not await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
            return False
        found = set(await connection.scalars(text("SELECT version_num FROM alembic_version")))
        return found == {migrations.HEAD}


def main() -> None:
    """The migration process: the database's URL and the log level as JSON on stdin."""
    order = json.loads(sys.stdin.read())
    logging.basicConfig(
        level=order["log_level"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    engine = create_engine(order["url"])

    async def migrate() -> None:
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
