"""Crashes, as they happen: ``python -m bot`` as a real process, stopped with a real SIGKILL.

Telegram's limits are enforced by the fake server (30/s for the bot, 1/s per private chat,
20 a minute per group). After each kill the bot is started again and must finish the work:
every request one ticket and one acknowledgement (at most one message twice: the one on its
way at the kill), every ticket in front of its mentors, a meeting announced and reminded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from bot.config import Settings
from bot.db import create_engine, create_session_factory
from bot.sandbox.emulator.server import FakeTelegram, Limits
from models import InboxUpdate, Meeting, OutboxMessage, OutboxStatus, Reminder, Ticket
from tests.burst import (
    BotProcess,
    Cast,
    Tally,
    bot_env,
    eventually,
    kill_when,
    post,
    post_request,
    post_requests,
    seed,
)

TELEGRAM = Limits(
    global_per_second=30, group_count=20, group_window=60.0, private_count=1, private_window=1.0
)
MOSCOW = ZoneInfo("Europe/Moscow")
BURST = 40
# Messages the bot keeps on their way at once by default: each may arrive twice after a kill.
IN_FLIGHT = int(Settings.model_fields["send_concurrency"].default)
TITLE = "Видеоконференция координаторов"


@pytest.fixture
def telegram(server: FakeTelegram) -> FakeTelegram:
    server.limits = TELEGRAM
    return server


async def _count(database_url: str, model: Any, *where: Any) -> int:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            found = await session.scalar(select(func.count()).select_from(model).where(*where))
            return int(found or 0)
    finally:
        await engine.dispose()


def _is_ack(method: str, params: dict[str, Any]) -> bool:
    return method == "sendMessage" and "принят" in str(params.get("text"))


def _kill_point(point: str, cast: Cast, first_update: int) -> Callable[[str, dict[str, Any]], bool]:
    """When, in a burst, the bot dies."""
    mentors = {m.id for m in cast.mentors}
    seen = {"acks": 0, "mentor": 0}

    def stored(method: str, params: dict[str, Any]) -> bool:
        # The poll that confirms the burst to Telegram: it is in the inbox, barely handled.
        return method == "getUpdates" and int(params.get("offset") or 0) > first_update

    def acknowledging(method: str, params: dict[str, Any]) -> bool:
        seen["acks"] += _is_ack(method, params)
        return seen["acks"] == 10

    def offering(method: str, params: dict[str, Any]) -> bool:
        if method in ("sendMessage", "editMessageText") and params.get("chat_id") in mentors:
            seen["mentor"] += 1
        return seen["mentor"] == 3

    return {"stored": stored, "acknowledging": acknowledging, "offering": offering}[point]


@pytest.mark.parametrize("point", ["stored", "acknowledging", "offering"])
async def test_a_burst_survives_a_kill(
    point: str, telegram: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    cast = await seed(database_url, telegram, groups=20, mentors=2)
    bot = BotProcess(bot_env(database_url, telegram), tmp_path)
    await bot.start(telegram)
    try:
        first_update = telegram.next_update_id() + 1
        with kill_when(telegram, bot, _kill_point(point, cast, first_update)) as killed:
            tally = Tally(telegram, post_requests(telegram, cast, BURST))
            await asyncio.wait_for(killed.wait(), 60)
        await bot.wait_dead()
        await bot.start(telegram)

        def finished() -> bool:
            if tally.acknowledged() < BURST:
                return False
            numbers = set(tally.numbers().values())
            return all(numbers <= tally.visible_to(mentor) for mentor in cast.mentors)

        await eventually(
            finished, 90, f"every request acknowledged and offered after a kill while {point}"
        )
        await asyncio.sleep(1.5)  # time for a duplicate to show, if one were coming
    finally:
        await bot.stop()

    assert await _count(database_url, Ticket) == BURST
    assert await _count(database_url, InboxUpdate, InboxUpdate.handled_at.is_(None)) == 0
    assert (
        await _count(database_url, OutboxMessage, OutboxMessage.status == OutboxStatus.pending) == 0
    )
    acks = tally.acks()
    assert all(len(found) >= 1 for found in acks.values())
    assert sum(len(found) for found in acks.values()) <= BURST + IN_FLIGHT
    assert len(set(tally.numbers().values())) == BURST  # one ticket each
    assert tally.duplicates() <= IN_FLIGHT, f"more came twice than were on their way ({point})"
    assert bot.starts == 2


def _typed(moment: datetime) -> str:
    return f"{moment.astimezone(MOSCOW):%d.%m.%Y %H:%M:%S} MSK"


async def test_a_meeting_killed_before_its_announcement_is_announced_and_reminded(
    telegram: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    cast = await seed(database_url, telegram, groups=1, mentors=0)
    group, coordinator = cast.groups[0], cast.coordinator
    starts = (datetime.now(UTC) + timedelta(seconds=40)).replace(microsecond=0)
    # One reminder, due about twenty seconds from now: after the restart, before the start.
    offset = int((starts - datetime.now(UTC)).total_seconds()) - 20
    bot = BotProcess(bot_env(database_url, telegram, REMINDER_OFFSETS=f"{offset}s"), tmp_path)
    await bot.start(telegram)

    def announcing(method: str, params: dict[str, Any]) -> bool:
        return method == "sendMessage" and "Придёте?" in str(params.get("text"))

    try:
        # Killed as the announcement leaves: the meeting is committed, nobody has heard of it.
        with kill_when(telegram, bot, announcing, lost=True) as killed:
            post(telegram, coordinator, group, f"/schedule {_typed(starts)} {TITLE}")
            await asyncio.wait_for(killed.wait(), 60)
        await bot.wait_dead()
        assert await _count(database_url, Meeting) == 1
        assert not [m for m in telegram.history[group.id] if "Придёте?" in m.content]

        await bot.start(telegram)
        await eventually(
            lambda: [m for m in telegram.history[group.id] if m.by_bot and "⏰" in m.content],
            60,
            "the reminder",
        )
        await asyncio.sleep(1.5)
    finally:
        await bot.stop()

    announced = [m for m in telegram.history[group.id] if m.by_bot and "Придёте?" in m.content]
    calendars = [m for m in telegram.history[group.id] if m.by_bot and m.document is not None]
    reminders = [m for m in telegram.history[group.id] if m.by_bot and "⏰" in m.content]
    assert len(announced) == 1 and TITLE in announced[0].content
    assert len(calendars) == 1 and calendars[0].reply_to is announced[0]
    assert len(reminders) == 1
    assert datetime.now(UTC) < starts + timedelta(seconds=5)
    assert await _count(database_url, Reminder, Reminder.sent_at.is_not(None)) == 1


async def test_a_429_of_40_seconds_holds_no_transaction_and_no_other_chat(
    telegram: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    cast = await seed(database_url, telegram, groups=2, mentors=1)
    announced_in, other = cast.groups
    coordinator = cast.coordinator
    bot = BotProcess(bot_env(database_url, telegram), tmp_path)
    await bot.start(telegram)
    telegram.fail_next("sendDocument", 429, "Too Many Requests: retry after 40", retry_after=40)
    try:
        starts = datetime.now(UTC) + timedelta(hours=3)
        post(telegram, coordinator, announced_in, f"/schedule {_typed(starts)} {TITLE}")

        def refused() -> list[Any]:
            return [
                c
                for c in telegram.calls
                if c.method == "sendDocument" and c.error is not None and c.error.error_code == 429
            ]

        await eventually(lambda: bool(refused()), 30, "the .ics refused with 429")
        refused_at = refused()[0].at

        # The meeting and its announcement are committed: another connection sees them, and
        # can write at once (nothing holds the database while the .ics waits its 40 s).
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine).begin() as session:
                started = time.monotonic()
                await session.execute(text("UPDATE group_chats SET title = title"))
                assert (await session.execute(select(func.count(Meeting.id)))).scalar() == 1
            assert time.monotonic() - started < 2
            async with create_session_factory(engine)() as session:
                waiting = (
                    await session.execute(
                        select(OutboxMessage).where(
                            OutboxMessage.method == "send_document",
                            OutboxMessage.status == OutboxStatus.pending,
                        )
                    )
                ).scalar_one()
        finally:
            await engine.dispose()
        assert waiting.not_before is not None
        assert waiting.not_before >= datetime.now(UTC) + timedelta(seconds=30)

        # Meanwhile the other chats are served as usual.
        tally = Tally(telegram, [post_request(telegram, cast.activists[1], other, "Вопрос #юрист")])
        await eventually(lambda: tally.acknowledged() == 1, 10, "an acknowledgement elsewhere")
        await asyncio.sleep(2)
        retried = [c for c in telegram.calls if c.method == "sendDocument" and c.ok]
        assert retried == [], "the .ics went again before its 40 s were over"
        assert time.monotonic() - refused_at < 40
    finally:
        bot.kill()
        await bot.wait_dead()
    # A restart does not forget the wait either.
    await bot.start(telegram)
    try:
        await asyncio.sleep(2)
        assert [c for c in telegram.calls if c.method == "sendDocument" and c.ok] == []
    finally:
        await bot.stop()
