"""What the mentor of a booked consultation hears: who booked it and for which request, who
moved it and who cancelled it; never «will you come?» about their own consultation.

The bot's clock stands at Monday 1 March 2027, 09:00 in Moscow, so the days offered are known.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import Booking, Rsvp
from tests.booking_steps import book_from_ticket, request_with_hours
from tests.conftest import World

MONDAY = datetime(2027, 3, 1, 9, tzinfo=ZoneInfo("Europe/Moscow")).astimezone(UTC)
HOURS = "Пн-Вс 10:00-12:00 1h"
TOPIC = "«Юридические вопросы»"


async def test_the_mentor_hears_who_booked_which_request_and_is_not_asked_to_come(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    world.clock.set(MONDAY)
    tg = world.tg
    scene = await request_with_hours(world, HOURS)
    activist, mentor, n = scene.activist, scene.mentor, scene.ticket
    heard_before = len(tg.inbox(mentor))
    await book_from_ticket(tg, activist, n, day=1, time="10:00")
    async with db() as session:
        made = (await session.execute(select(Booking))).scalar_one()

    [notice] = [m for m in tg.inbox(mentor)[heard_before:] if "К вам записались" in m.text]
    assert f"запрос #{n} {TOPIC}" in notice.text
    assert "Активист: Активистка" in notice.text
    assert "10:00" in notice.text and f"Встреча #{made.meeting_id}" in notice.text
    assert "Придёте?" not in notice.text and not notice.buttons
    # The activist is invited as before, with the buttons.
    [invitation] = [m for m in tg.inbox(activist) if "Придёте?" in m.text]
    assert invitation.buttons == ["✅ Приду · 0", "❌ Не смогу · 0"]

    # A forged answer from the mentor's chat is refused and counts nothing.
    answer = await tg.press_data(mentor, notice, f"mr:{made.meeting_id}:1")
    assert "не для этого чата" in str(answer.text)
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Rsvp)) == 0


async def test_moves_and_a_cancellation_name_who_made_them(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    world.clock.set(MONDAY)
    tg = world.tg
    scene = await request_with_hours(world, HOURS)
    activist, mentor, n = scene.activist, scene.mentor, scene.ticket
    await book_from_ticket(tg, activist, n, day=1, time="10:00")
    async with db() as session:
        number = (await session.execute(select(Booking))).scalar_one().meeting_id
    [notice] = [m for m in tg.inbox(mentor) if "К вам записались" in m.text]

    # The activist moves it: the mentor hears which request, with whom, and who moved it.
    heard_before = len(tg.inbox(mentor))
    await tg.send(activist, activist, f"/reschedule {number} 03.03.2027 11:00")
    assert "✅ Перенесено" in tg.last(activist).text
    [moved] = [m for m in tg.inbox(mentor)[heard_before:] if "перенесена" in m.text]
    assert f"запросу #{n} {TOPIC}" in moved.text and "11:00" in moved.text
    assert "Активист: Активистка" in moved.text and "Кто перенёс: Активистка" in moved.text
    assert "Ответы сохранены" not in moved.text and not moved.buttons
    # The notice itself now shows the new time, still without buttons.
    assert "11:00" in tg.message(notice).text and not tg.message(notice).buttons

    # The mentor moves it: the activist hears of it as before; the mentor's notice says who.
    heard_before = len(tg.inbox(mentor))
    await tg.send(mentor, mentor, f"/reschedule {number} 04.03.2027 10:00")
    assert any("Перенос" in m.text for m in tg.inbox(activist)[-3:]), tg.inbox(activist)[-3:]
    assert any("Кто перенёс: Наставница" in m.text for m in tg.inbox(mentor)[heard_before:])

    # The activist cancels it: the mentor hears which request and who cancelled it.
    heard_before = len(tg.inbox(mentor))
    await tg.send(activist, activist, f"/cancel_meeting {number}")
    [cancelled] = [m for m in tg.inbox(mentor)[heard_before:] if "отменена" in m.text]
    assert f"запросу #{n} {TOPIC}" in cancelled.text
    assert "Активист: Активистка" in cancelled.text and "Кто отменил: Активистка" in cancelled.text
