"""Steps the scheduling tests share: moments to type, waiting for reminders, reading meetings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from models import Meeting, Reminder

MOSCOW = ZoneInfo("Europe/Moscow")
TITLE = "Видеоконференция с координаторами Луганской и Донецкой групп"


def moment(seconds_ahead: float) -> tuple[datetime, str]:
    """A moment a few seconds ahead, and how a coordinator in Moscow would type it."""
    at = (datetime.now(UTC) + timedelta(seconds=seconds_ahead)).replace(microsecond=0)
    return at, f"{at.astimezone(MOSCOW):%d.%m.%Y %H:%M:%S} MSK"


def reminders_in(tg: TelegramClient, chat: FakeChat | FakeUser) -> list[FakeMessage]:
    return [m for m in tg.messages(chat) if m.by_bot and m.content.startswith("⏰")]


def announcements_in(tg: TelegramClient, chat: FakeChat | FakeUser) -> list[FakeMessage]:
    return [m for m in tg.messages(chat) if m.by_bot and "Придёте?" in m.content]


def calendar_file(tg: TelegramClient, chat: FakeChat | FakeUser) -> icalendar.Event:
    """The last ``.ics`` the bot sent to the chat, parsed back."""
    files = [m for m in tg.messages(chat) if m.by_bot and m.document is not None]
    assert files, f"no file in {chat}"
    last = files[-1]
    assert str(last.document["file_name"]).endswith(".ics")  # type: ignore[index]
    assert last.file_bytes is not None
    event = icalendar.Calendar.from_ical(last.file_bytes).walk("VEVENT")[0]
    assert isinstance(event, icalendar.Event)
    return event


async def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``check`` holds; fail after ``timeout`` seconds (never a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.1)


async def until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)


async def all_meetings(db: async_sessionmaker[AsyncSession]) -> list[Meeting]:
    async with db() as session:
        return list((await session.execute(select(Meeting).order_by(Meeting.id))).scalars())


async def reminder_rows(db: async_sessionmaker[AsyncSession], meeting_id: int) -> list[Reminder]:
    async with db() as session:
        result = await session.execute(
            select(Reminder).where(Reminder.meeting_id == meeting_id).order_by(Reminder.due_at)
        )
        return list(result.scalars())
