"""``/report``: a PDF for funders in the coordinator's language, whose text carries the
people, towns and consultations counted; a bad period gets the usage and no file."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from bot.app import App
from bot.config import Settings
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeMessage
from bot.sandbox.emulator.server import FakeTelegram
from tests.booking_steps import book_from_ticket
from tests.conftest import SettableClock, World, start_app, stop_app

QUESTION = "Из какого вы города?"


@pytest.fixture
async def app(settings: Settings, server: FakeTelegram, clock: SettableClock) -> AsyncIterator[App]:
    app, task = await start_app(settings.model_copy(update={"ask_profile": True}), server, clock)
    try:
        yield app
    finally:
        await stop_app(app, task)


def _pdf(messages: list[FakeMessage]) -> tuple[FakeMessage, str, int]:
    found = [m for m in messages if m.document and m.document["file_name"].endswith(".pdf")]
    assert found, messages
    assert found[-1].file_bytes is not None
    reader = PdfReader(io.BytesIO(found[-1].file_bytes))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return found[-1], text, len(reader.pages)


async def test_the_report_counts_people_towns_and_consultations_in_russian(
    world: World, tg: TelegramClient
) -> None:
    world.clock.set(datetime(2027, 3, 1, 6, tzinfo=UTC))  # Monday, 09:00 in Moscow
    olga, petr = tg.user("Ольга", started=True), tg.user("Пётр", started=True)
    anna = tg.user("Анна", started=True)
    group = await world.registered_group(members=(olga, petr, anna))
    coordinator = await world.coordinator("Наталья")
    irina = await world.mentor("Ирина", "legal")
    await tg.send(irina, irina, "/hours Пн-Вс 10:00-12:00 1h")
    towns = {olga: "г. Стаханов", petr: "Стаханов", anna: "Луганск"}
    numbers = {}
    for person, town in towns.items():
        await tg.send(person, person, "/start")
        group.members[person.id] = "member"
        await tg.send(person, group, "/ask Как зарегистрировать НКО? #юрист")
        ack = [m for m in tg.bot_messages(group) if "принят" in m.content][-1]
        numbers[person] = int(ack.content.split("#")[1].split()[0].strip(".,:"))
        asked = [m for m in tg.bot_messages(person) if QUESTION in m.content][-1]
        await tg.press(person, asked, "✍️ Другой город")
        await tg.send(person, person, town)
    booked = await book_from_ticket(tg, olga, numbers[olga], day=1, time="10:00")
    assert "✅ Записано" in booked.text

    world.clock.set(datetime(2027, 3, 3, 9, tzinfo=UTC))
    await tg.send(coordinator, coordinator, "/report week")
    document, text, pages = _pdf(tg.messages(coordinator))
    assert 1 <= pages <= 3
    assert "Охват людей" in text and "Стаханов" in text and "Луганск" in text
    assert "Стаханов 2" in text.replace("\n", " ") or "Стаханов\n2" in text
    assert "Приложение: консультации" in text and "Ирина" in text
    assert "Записей на консультации" in text
    assert "охвачено людей: 3" in document.content


async def test_a_bad_period_gets_the_usage_and_no_file(world: World, tg: TelegramClient) -> None:
    await world.registered_group()
    coordinator = await world.coordinator("Наталья")
    await tg.send(coordinator, coordinator, "/report позавчера-ish")
    assert "Периоды:" in tg.last(coordinator).content
    assert not any(m.document for m in tg.messages(coordinator))
    mentor = await world.mentor("Ирина", "legal")
    await tg.send(mentor, mentor, "/report")
    assert not any(m.document for m in tg.messages(mentor))
