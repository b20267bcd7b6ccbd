"""The statements that updates and presses run find their rows by index: their cost does not
grow with the number of people, requests and cards the bot has seen. Read from SQLite's query
plans of the statements the real functions run, and from the number of instructions SQLite's
virtual machine runs for them: counts, so no timing is involved."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.db import create_engine, create_session_factory, upgrade
from bot.domain import summaries, tickets
from bot.domain.booking import booking_of_meeting
from bot.domain.matching import mentors_of
from bot.domain.people import find_person, find_person_in_group
from models import Person

pytestmark = pytest.mark.no_database

MENTORS = 200
TABLES = [
    "INSERT INTO programmes (title, triage, created_at, topics_version)"
    " VALUES ('Школа', 0, '2026-01-01', 0)",
    "INSERT INTO topics (programme_id, code, title_ru, title_en, title_pl, hashtags, keywords,"
    " position, active) VALUES (1, 'legal', 'Право', 'Law', 'Prawo', '[]', '[]', 0, 1)",
]
EACH_MENTOR = [
    "INSERT INTO people (telegram_id, first_name, private_chat_open, created_at, last_seen_at)"
    " VALUES (1000 + :n, 'Ментор', 1, '2026-01-01', '2026-01-01')",
    "INSERT INTO roles (person_id, programme_id, kind, active, granted_at)"
    " VALUES (:n, 1, 'mentor', 1, '2026-01-01')",
    "INSERT INTO role_topics (role_id, topic_id) VALUES (:n, 1)",
    "INSERT INTO summary_cards (person_id, chat_telegram_id, message_id, created_at)"
    " VALUES (:n, 1000 + :n, :n, '2026-01-01')",
]


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    """A database at head with a programme of ``MENTORS`` mentors, each with a summary card."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'plans.sqlite3'}")
    await upgrade(engine)
    async with engine.begin() as connection:
        for statement in TABLES:
            await connection.execute(text(statement))
        for statement in EACH_MENTOR:
            await connection.execute(text(statement), [{"n": n} for n in range(1, MENTORS + 1)])
    yield engine
    await engine.dispose()


async def _statements(
    engine: AsyncEngine, work: Callable[[AsyncSession], Awaitable[object]]
) -> list[tuple[str, Any]]:
    """Each statement ``work`` runs, with its parameters."""
    ran: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        _connection, _cursor, statement, parameters, _context, _many = args
        ran.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with create_session_factory(engine)() as session:
            await work(session)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return ran


async def _plans(
    engine: AsyncEngine, work: Callable[[AsyncSession], Awaitable[object]]
) -> list[tuple[str, list[str]]]:
    """Each statement ``work`` runs, with its query plan."""
    plans = []
    async with engine.connect() as connection:
        for statement, parameters in await _statements(engine, work):
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append((statement, [str(detail) for detail in result.scalars(3)]))
    assert plans, "nothing was read"
    return plans


def _full_work(plans: list[tuple[str, list[str]]]) -> list[str]:
    """The steps that read a whole table, or build something of its size first."""
    return [
        step
        for _statement, plan in plans
        for step in plan
        if "MATERIALIZE" in step
        or "AUTOMATIC" in step
        or (
            step.startswith("SCAN")
            and "CONSTANT ROW" not in step
            and "anon_" not in step
            and step != "SCAN pair"  # the (person, group) pair a read is given
        )
    ]


async def test_reading_who_writes_looks_up_rows_by_index(engine: AsyncEngine) -> None:
    """The person with their roles and topics (every update), and with the group and its
    programme (every update from a group). A programme with hundreds of mentors must not
    make each update read all their topics."""
    assert _full_work(await _plans(engine, lambda s: find_person(s, 1001))) == []
    assert _full_work(await _plans(engine, lambda s: find_person_in_group(s, 1001, -1))) == []


async def test_a_press_finds_its_summary_card_and_a_meeting_its_booking_by_index(
    engine: AsyncEngine,
) -> None:
    """A «Claim» on a summary card looks the card up by its message; a meeting's cancel,
    move or no-show looks up the booking it was made for."""
    assert _full_work(await _plans(engine, lambda s: summaries.find(s, 1007, 7))) == []
    assert _full_work(await _plans(engine, lambda s: booking_of_meeting(s, 7))) == []


def _instructions(path: Path, statements: list[tuple[str, Any]]) -> int:
    """How many instructions SQLite's virtual machine runs for the statements."""
    count = 0

    def step() -> int:
        nonlocal count
        count += 1
        return 0

    connection = sqlite3.connect(path)
    try:
        connection.set_progress_handler(step, 1)
        for statement, parameters in statements:
            connection.execute(statement, parameters).fetchall()
    finally:
        connection.close()
    return count


async def test_matching_reads_the_topics_mentors_not_all_of_the_programmes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Finding a new request's mentors (with their claimed requests, last claim and waiting
    messages) costs what it costs for the topic's two mentors, whether the programme has no
    other mentor or ``MENTORS`` more, of another topic, with three claimed requests each."""
    path = tmp_path / "plans.sqlite3"
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO topics (programme_id, code, title_ru, title_en, title_pl, hashtags,"
                " keywords, position, active) VALUES (1, 'grants', 'Гранты', 'Grants', 'Granty',"
                " '[]', '[]', 1, 1)"
            )
        )
        await connection.execute(text("DELETE FROM role_topics WHERE role_id > 2"))
        await connection.execute(text("UPDATE role_topics SET topic_id = 2"))
        # The others start in a programme of their own.
        await connection.execute(
            text(
                "INSERT INTO programmes (title, triage, created_at, topics_version)"
                " VALUES ('Другая школа', 0, '2026-01-01', 0)"
            )
        )
        await connection.execute(text("UPDATE roles SET programme_id = 2 WHERE id > 2"))
    statements = await _statements(engine, lambda s: mentors_of(s, 1, 2, capacity=5))
    alone = _instructions(path, statements)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE roles SET programme_id = 1 WHERE id > 2"))
        await connection.execute(
            text("INSERT INTO role_topics (role_id, topic_id) SELECT id, 1 FROM roles WHERE id > 2")
        )
        await connection.execute(
            text(
                "INSERT INTO tickets (programme_id, chat_telegram_id, request_message_id,"
                " author_id, topic_id, topic_confirmed, text, status, assignee_id, created_at,"
                " claimed_at, triage) SELECT 1, -1, people.id * 10 + n.value, people.id, 1, 1,"
                " 'Вопрос', 'claimed', people.id, '2026-01-01', '2026-01-01', 0 FROM people,"
                " (SELECT 1 AS value UNION SELECT 2 UNION SELECT 3) AS n WHERE people.id > 2"
            )
        )
    among_many = _instructions(path, statements)
    async with create_session_factory(engine)() as session:
        found = await mentors_of(session, 1, 2, capacity=5)
    assert [c.person.telegram_id for c in found] == [1001, 1002]
    assert among_many <= alone * 1.2, (alone, among_many)


async def _earlier_requests(engine: AsyncEngine, *, author: int, assignee: int | None) -> None:
    """A thousand closed requests of months ago, by ``author``, taken by ``assignee``."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n"
                " WHERE value < 1000) INSERT INTO tickets (programme_id, chat_telegram_id,"
                " request_message_id, author_id, topic_id, topic_confirmed, text, status,"
                " assignee_id, created_at, claimed_at, triage) SELECT 1, -:author, value,"
                " :author, 1, 1, 'Вопрос', 'closed', :assignee, '2026-01-01',"
                " CASE WHEN :assignee IS NULL THEN NULL ELSE '2026-01-02' END, 0 FROM n"
            ),
            {"author": author, "assignee": assignee},
        )


async def test_the_requests_cap_reads_what_it_counts_not_the_authors_history(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Each request counts its author's open requests and those of the last hour (the cap):
    that costs the same for an author with a thousand closed requests of months ago as for
    one with none."""
    path = tmp_path / "plans.sqlite3"
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)

    async def cap(session: AsyncSession) -> object:
        author = await session.get(Person, 1)
        assert author is not None
        return await tickets.over_the_cap(session, author, now, max_open=5, per_hour=10)

    statements = [found for found in await _statements(engine, cap) if "count(" in found[0]]
    assert len(statements) == 1
    first = _instructions(path, statements)
    await _earlier_requests(engine, author=1, assignee=None)
    veteran = _instructions(path, statements)
    async with create_session_factory(engine)() as session:
        assert await cap(session) is None
    assert veteran <= first * 1.2, (first, veteran)


async def test_matching_reads_a_mentors_last_claim_not_their_history(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Finding a new request's mentors reads when each last took a request: a mentor who took a
    thousand requests before costs no more to match than one who took none."""
    path = tmp_path / "plans.sqlite3"
    statements = await _statements(engine, lambda s: mentors_of(s, 1, 1, capacity=5))
    fresh = _instructions(path, statements)
    await _earlier_requests(engine, author=2, assignee=1)
    veteran = _instructions(path, statements)
    assert veteran <= fresh * 1.05, (fresh, veteran)
