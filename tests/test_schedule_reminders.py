"""Reminders with offsets of a few seconds: order, audience, restarts, two bot processes.

The meeting is typed to the second (``HH:MM:SS``) a few seconds ahead, and the offsets are
9, 6 and 3 seconds; the tests wait for messages to arrive and never assert how fast.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App, build_app, start
from bot.config import Settings
from bot.jobs.reminders import job_id
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from tests.conftest import World, start_app, stop_app
from tests.schedule_steps import (
    all_meetings,
    announcements_in,
    eventually,
    moment,
    reminder_rows,
    reminders_in,
    until,
)

OFFSETS = [timedelta(seconds=9), timedelta(seconds=6), timedelta(seconds=3)]
SETTLE = timedelta(seconds=1.5)  # after the start: time for a duplicate to show up, if any


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"reminder_offsets": OFFSETS})


async def test_reminders_arrive_in_order_once_each_to_the_group_and_to_those_who_said_yes(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    petr = tg.user("Пётр", started=True)
    anna = tg.user("Анна", started=True)
    group = await world.registered_group(members=(olga, petr, anna))
    starts, typed = moment(15)
    await tg.send(world.admin, group, f"/schedule {typed} Вебинар по отчётности в Минюст")
    announcement = announcements_in(tg, group)[-1]
    await tg.press(olga, announcement, "✅ Приду · 0")
    await tg.press(petr, tg.message(announcement), "❌ Не смогу · 0")
    [meeting] = await all_meetings(db)

    await eventually(lambda: len(reminders_in(tg, group)) >= 3)
    await until(starts + SETTLE)

    in_group, to_olga = reminders_in(tg, group), reminders_in(tg, olga)
    assert len(in_group) == 3 and len(to_olga) == 3
    assert all("Вебинар по отчётности" in m.content for m in in_group + to_olga)
    assert reminders_in(tg, petr) == [] and reminders_in(tg, anna) == []
    assert reminders_in(tg, world.admin) == []
    rows = await reminder_rows(db, meeting.id)
    assert [r.offset_seconds for r in rows] == [9, 6, 3]
    assert all(r.sent_at is not None and not r.skipped for r in rows)
    assert all(r.sent_at >= r.due_at for r in rows if r.sent_at is not None)
    sent = [r.sent_at for r in rows if r.sent_at is not None]
    assert sent == sorted(sent)  # in the order they fell due
    # Each reminder reached the group before the next one was taken.
    order = sorted(in_group + to_olga, key=lambda m: m.seq)
    assert [m.chat.id for m in order[::2]] == [group.id] * 3


async def test_a_restart_before_a_reminder_is_due_loses_nothing(
    tg: TelegramClient,
    settings: Settings,
    server: FakeTelegram,
    admin: FakeUser,
) -> None:
    app, task = await start_app(settings, server)
    world = World(tg=tg, app=app, admin=admin)
    group = await world.registered_group()
    starts, typed = moment(16)
    await tg.send(admin, group, f"/schedule {typed} Планёрка координаторов")
    await stop_app(app, task)
    assert reminders_in(tg, group) == []

    app, task = await start_app(settings, server)
    try:
        await eventually(lambda: len(reminders_in(tg, group)) >= 3)
        await until(starts + SETTLE)
        assert len(reminders_in(tg, group)) == 3
    finally:
        await stop_app(app, task)


async def test_a_reminder_that_fell_due_while_the_bot_was_down_arrives_on_start_once(
    tg: TelegramClient,
    settings: Settings,
    server: FakeTelegram,
    admin: FakeUser,
) -> None:
    app, task = await start_app(settings, server)
    world = World(tg=tg, app=app, admin=admin)
    group = await world.registered_group()
    starts, typed = moment(15)
    await tg.send(admin, group, f"/schedule {typed} Вебинар по грантам")
    [meeting] = await all_meetings(app.session_factory)
    await stop_app(app, task)

    # Down while the 9 s and 6 s reminders fall due; back before the meeting begins.
    await until(starts - timedelta(seconds=5))
    app, task = await start_app(settings, server)
    try:
        await eventually(lambda: len(reminders_in(tg, group)) >= 1)
        await until(starts + SETTLE)
        # The latest missed one on start (the earlier one would only repeat it), then 3 s.
        assert len(reminders_in(tg, group)) == 2
        rows = await reminder_rows(app.session_factory, meeting.id)
        assert [(r.offset_seconds, r.skipped) for r in rows] == [(9, True), (6, False), (3, False)]
        assert all(r.sent_at is not None for r in rows)
    finally:
        await stop_app(app, task)


async def test_reminders_of_a_meeting_that_began_while_the_bot_was_down_are_skipped(
    tg: TelegramClient,
    settings: Settings,
    server: FakeTelegram,
    admin: FakeUser,
) -> None:
    app, task = await start_app(settings, server)
    world = World(tg=tg, app=app, admin=admin)
    group = await world.registered_group()
    starts, typed = moment(12)
    await tg.send(admin, group, f"/schedule {typed} Вебинар по грантам")
    [meeting] = await all_meetings(app.session_factory)
    await stop_app(app, task)

    await until(starts + timedelta(seconds=1))
    app, task = await start_app(settings, server)
    try:
        await until(starts + timedelta(seconds=1) + SETTLE)
        assert reminders_in(tg, group) == []
        rows = await reminder_rows(app.session_factory, meeting.id)
        assert [r.skipped for r in rows] == [True, True, True]
    finally:
        await stop_app(app, task)


async def test_two_bot_processes_on_one_database_send_each_reminder_once(
    world: World, tg: TelegramClient, app: App, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    starts, typed = moment(15)
    await tg.send(world.admin, group, f"/schedule {typed} Вебинар «Мой бизнес»")
    await tg.press(olga, announcements_in(tg, group)[-1], "✅ Приду · 0")
    [meeting] = await all_meetings(db)

    # A second process: its own engine, scheduler and Bot session, the same database.
    second = build_app(app.settings)
    try:
        await start(second)
        rows = await reminder_rows(db, meeting.id)
        for row in rows:
            assert app.scheduler.get_job(job_id(row.id)) is not None
            assert second.scheduler.get_job(job_id(row.id)) is not None
        await eventually(lambda: len(reminders_in(tg, group)) >= 3)
        await until(starts + SETTLE)
    finally:
        await second.close()
    assert len(reminders_in(tg, group)) == 3
    assert len(reminders_in(tg, olga)) == 3
    rows = await reminder_rows(db, meeting.id)
    assert all(r.sent_at is not None and not r.skipped for r in rows)
