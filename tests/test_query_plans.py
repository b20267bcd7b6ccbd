"""The statements every update runs find their rows by index: their cost does not grow with
the number of people, roles and topics a programme has. Read from SQLite's query plans, so
no timing is involved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ClauseElement, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from bot.db import create_engine, upgrade
from bot.domain.people import _FIND_PERSON, _PERSON_IN_GROUP

pytestmark = pytest.mark.no_database


async def _plan(connection: AsyncConnection, statement: ClauseElement, **values: Any) -> list[str]:
    compiled = statement.compile(dialect=connection.dialect)
    assert isinstance(compiled, SQLCompiler)
    params = compiled.construct_params(values)
    positional = tuple(params[name] for name in compiled.positiontup or ())
    result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional)
    return [str(detail) for detail in result.scalars(3)]


def _full_work(plan: list[str]) -> list[str]:
    """The steps that read a whole table or build something of its size first."""
    return [
        step
        for step in plan
        if "MATERIALIZE" in step
        or "AUTOMATIC" in step
        or (step.startswith("SCAN") and "CONSTANT ROW" not in step and "anon_" not in step)
    ]


async def test_reading_who_writes_looks_up_rows_by_index(tmp_path: Path) -> None:
    """The person with their roles and topics (every update), and with the group and its
    programme (every update from a group). A programme with hundreds of mentors must not
    make each update read all their topics."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'plans.sqlite3'}")
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO programmes (title, triage, created_at, topics_version)"
                    " VALUES ('Школа', 0, '2026-01-01', 0)"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO topics (programme_id, code, title_ru, title_en, title_pl,"
                    " hashtags, keywords, position, active)"
                    " VALUES (1, 'legal', 'Право', 'Law', 'Prawo', '[]', '[]', 0, 1)"
                )
            )
            for n in range(1, 201):
                await connection.execute(
                    text(
                        "INSERT INTO people (telegram_id, first_name, private_chat_open,"
                        " created_at, last_seen_at) VALUES (:n, 'Ментор', 1, '2026-01-01',"
                        " '2026-01-01')"
                    ),
                    {"n": 1000 + n},
                )
                await connection.execute(
                    text(
                        "INSERT INTO roles (person_id, programme_id, kind, active, granted_at)"
                        " VALUES (:n, 1, 'mentor', 1, '2026-01-01')"
                    ),
                    {"n": n},
                )
                await connection.execute(
                    text("INSERT INTO role_topics (role_id, topic_id) VALUES (:n, 1)"), {"n": n}
                )
        async with engine.connect() as connection:
            private = await _plan(connection, _FIND_PERSON, telegram_id=1001)
            in_group = await _plan(connection, _PERSON_IN_GROUP, telegram_id=1001, chat_id=-1)
        assert _full_work(private) == [], private
        assert _full_work(in_group) == [], in_group
    finally:
        await engine.dispose()
