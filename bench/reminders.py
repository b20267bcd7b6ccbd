"""Measure meeting reminders: lateness (due -> sent) over many reminders, and start-up cost.

    .venv/bin/python bench/reminders.py [--reminders 600] [--future 10000] [--processes 2]

Everything runs locally: an SQLite file in a temporary directory (or ``--database-url``) and a
tiny Bot API stand-in that answers every call and notes when each reminder arrived. No timing
is asserted anywhere; the script prints figures and ratios to compare runs and machines.

1. Lateness. ``--reminders`` reminders fall due over about ten seconds, to as many group
   chats, while ``--processes`` reminder runners (separate engines, as separate bot processes
   would have) share the database; each has its sender, and the one holding the
   sender's lease sends what all of them write to the outbox (another process's rows are
   found by its poll, every half second). Reported: due -> taken (the conditional UPDATE)
   and due -> arrived at the API, median / p95 / max, and how many arrived (must be exactly
   one per reminder).
2. Start-up. The reminder rebuild (``ReminderRunner.start``) on an empty table, then with
   ``--future`` reminders spread over the next 30 days, then with the same number all due
   within the planning horizon (the worst case: every one becomes a job). Medians of
   several runs, reported as ratios to the empty baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings  # noqa: E402
from bot.db import create_engine, create_session_factory, downgrade, upgrade  # noqa: E402
from bot.delivery.sender import Sender, create_sender  # noqa: E402
from bot.delivery.telegram import create_bot  # noqa: E402
from bot.i18n import create_i18n  # noqa: E402
from bot.jobs.reminders import HORIZON, ReminderRunner  # noqa: E402
from models import (  # noqa: E402
    GroupChat,
    Meeting,
    MeetingAudience,
    MeetingStatus,
    Programme,
    Reminder,
)

TOKEN = "123456:bench"
TITLE = "Bench meeting {n}"


@dataclass
class FakeApi:
    """Answers every Bot API call with success and notes when each reminder arrived."""

    arrivals: dict[int, list[float]] = field(default_factory=dict)  # chat id -> times
    _next_id: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        data: dict[str, Any] = dict(await request.post()) if request.can_read_body else {}
        if method == "getMe":
            result: Any = {"id": 1, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
        elif method == "sendMessage":
            chat_id = int(str(data["chat_id"]))
            self.arrivals.setdefault(chat_id, []).append(time.time())
            self._next_id += 1
            result = {
                "message_id": self._next_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "group" if chat_id < 0 else "private"},
                "text": str(data.get("text", "")),
            }
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return runner, f"http://{host}:{port}"


def _settings(database_url: str, api: str) -> Settings:
    return Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_base=api,
        database_url=database_url,
        rate_global_per_second=100_000,
        rate_private_per_second=100_000,
        rate_group_per_minute=6_000_000,
    )


def _delivery(settings: Settings, factory: async_sessionmaker[AsyncSession], owner: str) -> Sender:
    """A bot process's sender, with a bot of its own."""
    bot = create_bot(settings.token, settings.telegram_api_base)
    return create_sender(settings, bot, factory, owner)


async def _fresh(database_url: str) -> AsyncEngine:
    """An engine on an empty, migrated database: the bench owns whatever it is given."""
    engine = create_engine(database_url)
    await downgrade(engine, "base")
    await upgrade(engine)
    return engine


async def _programme(session: AsyncSession) -> Programme:
    programme = Programme(title="Bench programme")
    session.add(programme)
    await session.flush()
    return programme


def _meeting(programme: Programme, starts_at: datetime, n: int) -> Meeting:
    return Meeting(
        uid=uuid.uuid4().hex,
        programme_id=programme.id,
        title=TITLE.format(n=n),
        starts_at=starts_at,
        duration_minutes=60,
        zone="Europe/Moscow",
        video_url=f"https://meet.jit.si/bench-{n}",
        status=MeetingStatus.scheduled,
        revision=0,
        audience=[],
    )


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered) * 1000:7.1f} ms · p95 {p95 * 1000:7.1f} ms · "
        f"max {ordered[-1] * 1000:7.1f} ms"
    )


async def lateness(database_url: str, api: FakeApi, base: str, count: int, processes: int) -> None:
    settings = _settings(database_url, base)
    engine = await _fresh(database_url)
    factory = create_session_factory(engine)
    lead = timedelta(seconds=4)  # time to start the runners before the first reminder is due
    spread = 10.0
    now = datetime.now(UTC)
    due: dict[int, datetime] = {}  # chat id -> due time of its reminder
    async with factory.begin() as session:
        programme = await _programme(session)
        for n in range(count):
            chat_id = -(10**12) - n
            group = GroupChat(telegram_id=chat_id, title=f"Group {n}", programme_id=programme.id)
            session.add(group)
            await session.flush()
            due_at = now + lead + timedelta(seconds=spread * n / count)
            meeting = _meeting(programme, due_at + timedelta(minutes=10), n)
            meeting.audience = [MeetingAudience(group_id=group.id)]
            session.add(meeting)
            await session.flush()
            session.add(Reminder(meeting_id=meeting.id, offset_seconds=600, due_at=due_at))
            due[chat_id] = due_at
    runners = []
    for number in range(processes):
        process_engine = create_engine(database_url)
        process_factory = create_session_factory(process_engine)
        scheduler = AsyncIOScheduler(timezone=UTC)
        delivery = _delivery(settings, process_factory, f"bench-{number}")
        sending = asyncio.create_task(delivery.run())
        runner = ReminderRunner(scheduler, process_factory, delivery, create_i18n(), settings)
        await runner.start()
        scheduler.start()
        runners.append((scheduler, delivery, sending, process_engine))
    last_due = max(due.values())
    while datetime.now(UTC) < last_due + timedelta(seconds=3):
        await asyncio.sleep(0.2)
    for scheduler, delivery, sending, process_engine in runners:
        scheduler.shutdown(wait=False)
        await delivery.stop()
        await sending
        await delivery.bot.session.close()
        await process_engine.dispose()
    async with factory() as session:
        taken = [
            (reminder.sent_at - reminder.due_at).total_seconds()
            for reminder in (await session.execute(select(Reminder))).scalars()
            if reminder.sent_at is not None
        ]
    arrived = [
        times[0] - due[chat_id].timestamp() for chat_id, times in api.arrivals.items() if times
    ]
    duplicates = sum(len(times) - 1 for times in api.arrivals.values())
    missing = count - len(arrived)
    say(f"\n1. Lateness: {count} reminders over {spread:.0f} s, {processes} runner(s)")
    say(f"   due -> taken:   {_percentiles(taken)}")
    say(f"   due -> arrived: {_percentiles(arrived)}")
    say(f"   arrived once: {len(arrived) - duplicates}, twice or more: {duplicates}, "
          f"missing: {missing}")  # fmt: skip
    await engine.dispose()


async def _fill(
    factory: async_sessionmaker[AsyncSession], count: int, due: Callable[[int], datetime]
) -> None:
    async with factory.begin() as session:
        await session.execute(delete(Meeting))
        programme = await _programme(session)
        offsets = (86400, 3600, 600)
        meetings = []
        for n in range(0, count, len(offsets)):
            start = due(n) + timedelta(seconds=offsets[0])
            meetings.append(_meeting(programme, start, n))
        session.add_all(meetings)
        await session.flush()
        reminders = []
        made = 0
        for meeting in meetings:
            for offset in offsets:
                if made == count:
                    break
                reminders.append(
                    Reminder(
                        meeting_id=meeting.id,
                        offset_seconds=offset,
                        due_at=meeting.starts_at - timedelta(seconds=offset),
                    )
                )
                made += 1
        session.add_all(reminders)


async def _start_time(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> float:
    scheduler = AsyncIOScheduler(timezone=UTC)
    delivery = _delivery(settings, factory, "bench-start")  # never runs: nothing is sent
    runner = ReminderRunner(scheduler, factory, delivery, create_i18n(), settings)
    began = time.perf_counter()
    await runner.start()
    scheduler.start(paused=True)  # adds the pending jobs, as the real start does, sends nothing
    elapsed = time.perf_counter() - began
    scheduler.shutdown(wait=False)
    await delivery.bot.session.close()
    return elapsed


async def startup(database_url: str, base: str, future: int, rounds: int) -> None:
    settings = _settings(database_url, base)
    engine = await _fresh(database_url)
    factory = create_session_factory(engine)
    now = datetime.now(UTC)
    cases: list[tuple[str, int, Callable[[int], datetime]]] = [
        ("empty table (baseline)", 0, lambda n: now),
        (
            f"{future} reminders over 30 days",
            future,
            lambda n: now + timedelta(minutes=10) + timedelta(days=30) * n / future,
        ),
        (
            f"{future} reminders within the horizon",
            future,
            lambda n: now + timedelta(minutes=1) + (HORIZON - timedelta(minutes=2)) * n / future,
        ),
    ]
    results: list[tuple[str, float]] = []
    for label, count, due in cases:
        await _fill(factory, count, due)
        times = [await _start_time(settings, factory) for _ in range(rounds)]
        results.append((label, statistics.median(times)))
    baseline = results[0][1]
    say(f"\n2. Start-up: reminder rebuild, median of {rounds} runs")
    for label, elapsed in results:
        say(f"   {label:<40} {elapsed * 1000:8.1f} ms   x{elapsed / baseline:6.1f}")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reminders", type=int, default=600)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--future", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--database-url",
        help="a database the bench may wipe (default: an SQLite file in a temporary directory)",
    )
    args = parser.parse_args()
    api = FakeApi()
    runner, base = await api.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite+aiosqlite:///{tmp}/lateness.sqlite3"
            await lateness(url, api, base, args.reminders, args.processes)
            url = args.database_url or f"sqlite+aiosqlite:///{tmp}/startup.sqlite3"
            await startup(url, base, args.future, args.rounds)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
