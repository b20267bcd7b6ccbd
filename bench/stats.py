"""Measure what ``/stats`` and ``/export`` cost on a large programme, against baselines.

    .venv/bin/python bench/stats.py [--tickets 10000] [--small 1000] [--rounds 5]
                                    [--database-url postgresql+asyncpg://...]

Everything runs locally on an SQLite file in a temporary directory (or on ``--database-url``,
which the bench wipes). Two programmes are seeded with a realistic history: ``--tickets``
requests in the large one and ``--small`` in the small one, spread over half a year, each with
its events (filed, topic, claim, answers, resolution, rating), plus meetings with RSVPs; then
the database gathers its planner statistics (``ANALYZE``), as a live one would have them.

Measured, as the median of ``--rounds`` runs: the figures of ``/stats`` (all the SQL and the
percentiles), the chart, the export's reading and the building of its XLSX and CSV files.
Reported in seconds and as ratios against two baselines measured in the same run: a plain
``SELECT count(*)`` of the large programme's requests, and the same step on the small
programme. No timing is asserted anywhere; the ratios are what to compare between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.db import create_engine, create_session_factory, downgrade, upgrade  # noqa: E402
from bot.domain import export, stats  # noqa: E402
from bot.domain.stats import Period, PeriodKind  # noqa: E402
from bot.domain.topics import add_default_topics, list_topics
from bot.i18n import create_i18n, locale  # noqa: E402
from bot.views.charts import draw_weekly  # noqa: E402
from bot.views.export import ExportFiles, make_files  # noqa: E402
from bot.views.stats import chart_text, export_text  # noqa: E402
from models import (  # noqa: E402
    Meeting,
    MeetingStatus,
    Person,
    Programme,
    Role,
    RoleKind,
    Rsvp,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
)

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
ZONE = "Europe/Moscow"
SPAN = timedelta(days=182)
AUTHORS_PER_PROGRAMME = 400
MENTORS_PER_PROGRAMME = 25
MEETINGS_PER_PROGRAMME = 40
BATCH = 2000
QUESTIONS = (
    "Как зарегистрировать АНО и какие документы нужны для Минюста?",
    "Подскажите, какой грантовый конкурс подходит для проекта по реабилитации детей?",
    "Нужна консультация юриста по договору аренды помещения для мастерской.",
    "Как составить смету для заявки в Фонд президентских грантов?",
    "Где найти программу поддержки «Мой бизнес» для социального предприятия?",
)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


async def _fresh(database_url: str) -> AsyncEngine:
    engine = create_engine(database_url)
    await downgrade(engine, "base")
    await upgrade(engine)
    return engine


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        await session.execute(insert(model), rows[start : start + BATCH])


async def seed(
    factory: async_sessionmaker[AsyncSession], title: str, count: int, rng: random.Random
) -> int:
    """One programme with ``count`` requests and their history; returns its id."""
    async with factory.begin() as session:
        programme = Programme(title=title, created_at=NOW - SPAN)
        session.add(programme)
        await session.flush()
        await add_default_topics(session, programme)
        topics = await list_topics(session, programme.id)
        base = programme.id * 1_000_000
        people = [
            Person(
                telegram_id=base + n,
                first_name=f"Участник {n}",
                private_chat_open=True,
                created_at=NOW - SPAN,
                last_seen_at=NOW,
                roles=[],
            )
            for n in range(AUTHORS_PER_PROGRAMME + MENTORS_PER_PROGRAMME)
        ]
        session.add_all(people)
        await session.flush()
        authors, mentors = people[:AUTHORS_PER_PROGRAMME], people[AUTHORS_PER_PROGRAMME:]
        for n, mentor in enumerate(mentors):
            session.add(
                Role(
                    person_id=mentor.id,
                    programme_id=programme.id,
                    kind=RoleKind.mentor,
                    active=True,
                    capacity=5,
                    granted_at=NOW - SPAN,
                    topics=[topics[n % len(topics)], topics[(n + 1) % len(topics)]],
                )
            )
        await session.flush()

        tickets: list[dict[str, Any]] = []
        events: list[tuple[int, TicketEventKind, int | None, datetime]] = []
        for n in range(count):
            created = NOW - SPAN * rng.random()
            status = rng.choices(list(TicketStatus), weights=[5, 10, 30, 50, 5], k=1)[0]
            assignee = rng.choice(mentors) if status != TicketStatus.open else None
            claimed = created + timedelta(minutes=rng.expovariate(1 / 90)) if assignee else None
            answered = (
                claimed + timedelta(minutes=rng.expovariate(1 / 120))
                if claimed and status != TicketStatus.cancelled
                else None
            )
            done = status in (TicketStatus.resolved, TicketStatus.closed)
            resolved = (
                answered + timedelta(hours=rng.expovariate(1 / 20)) if done and answered else None
            )
            rating = rng.choice([3, 4, 5, 5, 5, None]) if resolved else None
            author = rng.choice(authors)
            tickets.append(
                {
                    "programme_id": programme.id,
                    "group_id": None,
                    "chat_telegram_id": author.telegram_id,
                    "request_message_id": n + 1,
                    "author_id": author.id,
                    "topic_id": rng.choice(topics).id,
                    "topic_confirmed": True,
                    "text": rng.choice(QUESTIONS),
                    "status": status,
                    "assignee_id": assignee.id if assignee else None,
                    "created_at": created,
                    "claimed_at": claimed,
                    "first_answer_at": answered,
                    "resolved_at": resolved,
                    "closed_at": resolved + timedelta(days=3)
                    if resolved and status == TicketStatus.closed
                    else None,
                    "rating": rating,
                    "rating_comment": None,
                    "rated_at": resolved + timedelta(hours=1) if rating and resolved else None,
                    "claim_alerted_at": None,
                    "answer_reminded_at": None,
                }
            )
            history = [(TicketEventKind.created, author.id, created)]
            history.append((TicketEventKind.topic_set, author.id, created))
            if claimed and assignee:
                history.append((TicketEventKind.claimed, assignee.id, claimed))
            if answered and assignee:
                history.append((TicketEventKind.mentor_message, assignee.id, answered))
                history.append(
                    (TicketEventKind.author_message, author.id, answered + timedelta(minutes=30))
                )
            if resolved and assignee:
                history.append((TicketEventKind.resolved, assignee.id, resolved))
            if rating and resolved:
                history.append((TicketEventKind.rated, author.id, resolved))
            events.extend((n, kind, actor, at) for kind, actor, at in history)
        await _insert(session, Ticket, tickets)
        ids = list(
            (
                await session.execute(
                    select(Ticket.id)
                    .where(Ticket.programme_id == programme.id)
                    .order_by(Ticket.request_message_id)
                )
            ).scalars()
        )
        await _insert(
            session,
            TicketEvent,
            [
                {
                    "ticket_id": ids[n],
                    "kind": kind,
                    "actor_id": actor,
                    "created_at": at,
                    "text": None,
                    "details": {},
                }
                for n, kind, actor, at in events
            ],
        )
        for n in range(MEETINGS_PER_PROGRAMME):
            meeting = Meeting(
                uid=f"bench-{programme.id}-{n}",
                programme_id=programme.id,
                title=f"Видеоконференция {n}",
                starts_at=NOW - SPAN + SPAN * n / MEETINGS_PER_PROGRAMME,
                duration_minutes=60,
                zone=ZONE,
                video_url=f"https://meet.jit.si/bench-{programme.id}-{n}",
                status=MeetingStatus.done,
                created_at=NOW - SPAN,
                revision=0,
                audience=[],
            )
            session.add(meeting)
            await session.flush()
            session.add_all(
                Rsvp(meeting_id=meeting.id, person_id=p.id, coming=rng.random() < 0.7)
                for p in rng.sample(authors, 25)
            )
        return programme.id


async def timed(step: Callable[[], Awaitable[object]], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        await step()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


async def measure(database_url: str, large: int, small: int, rounds: int) -> None:
    engine = await _fresh(database_url)
    factory = create_session_factory(engine)
    rng = random.Random(2027)
    began = time.perf_counter()
    big_id = await seed(factory, "Большая программа", large, rng)
    small_id = await seed(factory, "Малая программа", small, rng)
    # What autovacuum does soon after a bulk load: without statistics PostgreSQL plans the
    # joins for a 17-row table and runs ten times slower than any live database would.
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    say(f"seeded {large} + {small} requests in {time.perf_counter() - began:.1f} s "
        f"({engine.dialect.name})")  # fmt: skip
    i18n = create_i18n()
    period = Period.rolling(PeriodKind.all, NOW, ZONE)

    async def count(programme_id: int) -> None:
        async with factory() as session:
            await session.execute(
                select(func.count()).select_from(Ticket).where(Ticket.programme_id == programme_id)
            )

    async def figures(programme_id: int) -> stats.Stats:
        async with factory() as session:
            return await stats.collect(session, [programme_id], period, NOW)

    async def chart(programme_id: int) -> bytes:
        found = await figures(programme_id)
        with locale(i18n, "ru"):
            words = chart_text(found.weekly, "ru")
        return await asyncio.to_thread(draw_weekly, found.weekly, words)

    async def export_files(programme_id: int) -> ExportFiles:
        async with factory() as session:
            found = await stats.collect(session, [programme_id], period, NOW)
            data = await export.collect_export(session, [programme_id], period, NOW)
        with locale(i18n, "ru"):
            words = export_text(found, "ru")
        return await make_files(data, words)

    baseline = await timed(lambda: count(big_id), rounds)
    steps: list[tuple[str, Callable[[int], Awaitable[object]]]] = [
        ("/stats figures (SQL + percentiles)", figures),
        ("/stats figures + chart PNG", chart),
        ("/export: read + XLSX + CSV", export_files),
    ]
    say(f"\nmedians of {rounds} runs; baseline SELECT count(*) of {large} requests: "
        f"{baseline * 1000:.1f} ms")  # fmt: skip
    say(f"{'step':<36} {small:>7} req {large:>7} req   x count(*)   x {small} req")
    for label, step in steps:
        small_time = await timed(lambda step=step: step(small_id), rounds)  # type: ignore[misc]
        large_time = await timed(lambda step=step: step(big_id), rounds)  # type: ignore[misc]
        say(
            f"{label:<36} {small_time:9.3f} s {large_time:9.3f} s "
            f"{large_time / baseline:10.0f}   {large_time / small_time:9.1f}"
        )
    files = await export_files(big_id)
    say(f"\nexport of {large} requests: XLSX {len(files.xlsx) / 1e6:.1f} MB, "
        f"CSV {len(files.csv) / 1e6:.1f} MB")  # fmt: skip
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--database-url",
        help="a database the bench may wipe (default: an SQLite file in a temporary directory)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/stats.sqlite3"
        await measure(url, args.tickets, args.small, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
