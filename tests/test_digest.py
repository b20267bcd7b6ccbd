"""The weekly digest: Monday 09:00 in each coordinator's zone, once a week across restarts."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy import select

from bot.app import App
from bot.config import Settings
from bot.jobs.digest import JOB_PREFIX, DigestRunner, due_week
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeMessage, FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from models import WeeklyDigest
from tests.conftest import World, start_app, stop_app
from tests.test_stats_chart import bar_groups
from tests.test_stats_flow import OMSK, coordinator_of
from tests.ticket_steps import ask, card

MOSCOW, OMSK_ZONE = ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Omsk")


def runner(app: App) -> DigestRunner:
    return DigestRunner(app.scheduler, app.session_factory, app.sender, app.i18n, app.settings)


def next_monday() -> date:
    """The coming Monday in Moscow: its digest reports the week the test runs in."""
    today = datetime.now(UTC).astimezone(MOSCOW).date()
    return today + timedelta(days=7 - today.weekday())


def at_nine(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=zone).astimezone(UTC)


def digests(tg: TelegramClient, person: FakeUser) -> list[FakeMessage]:
    return [m for m in tg.inbox(person) if "Weekly digest" in m.content]


def test_the_digest_is_due_on_monday_at_nine_in_the_coordinators_zone() -> None:
    monday = date(2027, 3, 1)
    week, due = due_week(datetime(2027, 3, 1, 5, 59, tzinfo=UTC), "Europe/Moscow")
    assert (week, due) == (date(2027, 2, 22), datetime(2027, 3, 1, 6, 0, tzinfo=UTC))
    assert due_week(datetime(2027, 3, 7, 20, 0, tzinfo=UTC), "Europe/Moscow")[0] == date(
        2027, 2, 22
    )
    # Sunday 22:00 UTC is already Monday 04:00 in Omsk, so the next week is being reported.
    week, due = due_week(datetime(2027, 3, 7, 22, 0, tzinfo=UTC), "Asia/Omsk")
    assert (week, due) == (monday, datetime(2027, 3, 8, 3, 0, tzinfo=UTC))
    assert due_week(datetime(2027, 3, 1, 5, 0, tzinfo=UTC), "UTC+06:00")[1] == datetime(
        2027, 3, 1, 3, 0, tzinfo=UTC
    )


async def test_the_digest_goes_out_once_a_week_whatever_the_restarts(  # noqa: PLR0915 - one story, step by step
    settings: Settings, server: FakeTelegram, tg: TelegramClient, admin: FakeUser
) -> None:
    app, task = await start_app(settings, server)
    world = World(tg=tg, app=app, admin=admin)
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    await world.registered_group("Омская группа", programme=OMSK)
    natalia = await world.coordinator("Natalia", language="en")
    marat = tg.user("Marat", language="en")
    await coordinator_of(world, marat, "Школа социального предпринимательства на Донбассе")
    await tg.send(marat, marat, "/tz Asia/Omsk")
    quiet = tg.user("Quiet", language="en")
    await coordinator_of(world, quiet, OMSK)
    irina = await world.mentor("Irina", "legal", language="en")
    first = await ask(tg, olga, group, "How do I register an NGO? #legal")
    await ask(tg, olga, group, "Where can we find a grant? #grants")
    await tg.press(irina, card(tg, irina, first), "Claim")

    monday = next_monday()
    omsk_nine, moscow_nine = at_nine(monday, OMSK_ZONE), at_nine(monday, MOSCOW)
    first_runner = runner(app)
    await first_runner.sync()
    moscow_job = app.scheduler.get_job(JOB_PREFIX + "Europe/Moscow")
    omsk_job = app.scheduler.get_job(JOB_PREFIX + "Asia/Omsk")
    assert moscow_job is not None and omsk_job is not None
    sunday = at_nine(monday, MOSCOW) - timedelta(days=1)
    assert moscow_job.trigger.get_next_fire_time(None, sunday) == moscow_nine
    assert omsk_job.trigger.get_next_fire_time(None, sunday) == omsk_nine

    # 09:00 in Omsk: only Marat's digest is due.
    assert await first_runner.send_zone("Asia/Omsk", now=omsk_nine) == 1
    assert await first_runner.catch_up(now=omsk_nine + timedelta(minutes=1)) == 0
    await app.idle()
    assert len(digests(tg, marat)) == 1 and digests(tg, natalia) == []

    # The bot is down over 09:00 in Moscow and back at 09:00:30: the missed digest goes out.
    await stop_app(app, task)
    app, task = await start_app(settings, server)
    second_runner = runner(app)
    assert await second_runner.catch_up(now=moscow_nine + timedelta(seconds=30)) == 1
    # Its cron job fires as well, and a second replica at the same moment: nothing more.
    results = await asyncio.gather(
        second_runner.send_zone("Europe/Moscow", now=moscow_nine),
        runner(app).catch_up(now=moscow_nine + timedelta(seconds=40)),
    )
    assert list(results) == [0, 0]
    await app.idle()

    # And once more a restart at 09:00: still one digest each.
    await stop_app(app, task)
    app, task = await start_app(settings, server)
    try:
        third_runner = runner(app)
        assert await third_runner.send_zone("Europe/Moscow", now=moscow_nine) == 0
        assert await third_runner.catch_up(now=moscow_nine + timedelta(hours=2)) == 0
        assert await third_runner.send_zone("Asia/Omsk", now=omsk_nine) == 0
        async with app.session_factory() as session:
            rows = list((await session.execute(select(WeeklyDigest))).scalars())
    finally:
        await stop_app(app, task)

    [digest] = digests(tg, natalia)
    assert len(digests(tg, marat)) == 1
    first_day = monday - timedelta(days=7)
    assert f"Last week: {first_day:%d.%m.%Y} – {monday - timedelta(days=1):%d.%m.%Y}" in (
        digest.content
    )
    assert "Requests: 2 · people served: 1" in digest.content
    assert "• Irina — 1 / 0 / —" in digest.content
    chart = tg.inbox(natalia)[tg.inbox(natalia).index(digest) + 1]
    assert chart.photo is not None and chart.file_bytes is not None
    assert "over the last 8 weeks" in chart.content
    assert Image.open(io.BytesIO(chart.file_bytes)).size == (1200, 800)
    assert bar_groups(chart.file_bytes) == 1
    # The quiet programme had nothing to report: its week is taken, and nothing was sent.
    assert digests(tg, quiet) == []
    this_week = [row for row in rows if row.week_start == first_day]
    assert len(this_week) == 3
    assert sorted(row.sent_at is not None for row in this_week) == [False, True, True]
