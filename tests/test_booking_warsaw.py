"""A Polish programme on Europe/Warsaw across the change to summer time (28 March 2027), end
to end: a mentor in Warsaw sets office hours, activists book and move a consultation, and every
time shown (the slots, the booking, the invitation, the move, the reminders) is the right local
one. 10:00 in Warsaw is 09:00 UTC before the change and 08:00 UTC after it.

The people read English: the Polish catalogue comes with its own issue. The bot's clock stands
at Friday 19 March 2027, so the next two weeks hold one Monday on each side of the change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.reminders import ReminderRunner
from bot.sandbox.emulator.models import FakeMessage, FakeUser
from models import Booking, Meeting, Reminder
from tests.conftest import World
from tests.ticket_steps import ask

WARSAW = ZoneInfo("Europe/Warsaw")
FRIDAY = datetime(2027, 3, 19, 12, tzinfo=UTC)  # 13:00 in Warsaw, 15:00 in Moscow
PROGRAMME = "Szkoła Przedsiębiorczości Społecznej"
BEFORE = datetime(2027, 3, 22, 9, tzinfo=UTC)  # Monday 22 March, 10:00 CET
AFTER = datetime(2027, 3, 29, 8, tzinfo=UTC)  # Monday 29 March, 10:00 CEST


def _invitations(messages: list[FakeMessage]) -> list[str]:
    return [m.text for m in messages if "Will you come?" in m.text]


async def _remind(world: World, reminder_id: int, at: datetime) -> None:
    """The reminder job at ``at``, as the scheduler would run it then."""
    world.clock.set(at)
    app = world.app
    runner = ReminderRunner(
        app.scheduler, app.session_factory, app.sender, app.i18n, app.settings, clock=world.clock
    )
    assert await runner.send(reminder_id)
    await app.idle()


async def _times(world: World, person: FakeUser, ticket: int, day: str) -> list[str]:
    tg = world.tg
    await tg.send(person, person, f"/ticket {ticket}")
    await tg.press(person, tg.last(person), "Book a consultation")
    picker = tg.last(person)
    await tg.press(person, picker, day)
    return [b for b in tg.message(picker).buttons if b[:1].isdigit()]


async def test_a_warsaw_consultation_keeps_its_local_time_across_summer_time(  # noqa: PLR0915 - one story, step by step
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    world.clock.set(FRIDAY)
    tg = world.tg
    zofia = tg.user("Zofia", language="en", started=True)
    olena = tg.user("Olena", language="en", started=True)  # on Moscow time, the default here
    group = await world.registered_group(
        "Grupa warszawska", programme=PROGRAMME, members=(zofia, olena)
    )
    await tg.send(world.admin, group, "/tz Europe/Warsaw")
    assert "Варшава (UTC+" in tg.last(group).text
    mentor = await world.mentor("Katarzyna", language="en")
    await tg.send(mentor, mentor, "/tz Europe/Warsaw")
    await tg.send(mentor, mentor, "/hours pn 10:00-12:00 1h")
    assert "Mon 10:00–12:00" in tg.last(mentor).text and "Warsaw (UTC+" in tg.last(mentor).text
    await tg.send(zofia, zofia, "/tz Europe/Warsaw")
    mine = await ask(tg, zofia, group, "How do we register a foundation? #legal")
    theirs = await ask(tg, olena, group, "Which lease do we sign? #legal")

    # Moscow keeps no summer time: the same Warsaw hours are an hour earlier there after it.
    assert await _times(world, olena, theirs, "Mon 22.03") == ["12:00", "13:00"]
    assert await _times(world, olena, theirs, "Mon 29.03") == ["11:00", "12:00"]

    # In Warsaw they stay at 10:00 and 11:00 on both Mondays.
    await tg.send(zofia, zofia, f"/ticket {mine}")
    await tg.press(zofia, tg.last(zofia), "Book a consultation")
    picker = tg.last(zofia)
    assert "Warsaw (UTC+" in picker.text
    assert picker.buttons == ["Mon 22.03", "Mon 29.03"]
    await tg.press(zofia, picker, "Mon 29.03")
    assert tg.message(picker).buttons[:2] == ["10:00", "11:00"]
    await tg.press(zofia, tg.message(picker), "« Other days")
    await tg.press(zofia, tg.message(picker), "Mon 22.03")
    assert tg.message(picker).buttons[:2] == ["10:00", "11:00"]
    await tg.press(zofia, tg.message(picker), "10:00")
    booked = tg.message(picker)
    assert "✅ Booked" in booked.text and "10:00 Warsaw (UTC+1)" in booked.text, booked.text
    [invitation] = _invitations(tg.inbox(zofia))
    assert "10:00 Warsaw (UTC+1)" in invitation, invitation
    # The mentor is told who booked, not asked whether she will come.
    assert not _invitations(tg.inbox(mentor))
    [notice] = [m.text for m in tg.inbox(mentor) if "A consultation was booked" in m.text]
    assert "10:00 Warsaw (UTC+1)" in notice and "Activist: Zofia" in notice, notice
    async with db() as session:
        made = (await session.execute(select(Booking))).scalar_one()
        assert made.starts_at == BEFORE
        due = sorted(r.due_at for r in (await session.execute(select(Reminder))).scalars())
    assert due == [BEFORE - timedelta(hours=24), BEFORE - timedelta(hours=1),
                   BEFORE - timedelta(minutes=10)]  # fmt: skip

    # Zofia moves it a week on, past the change: still 10:00 in Warsaw, an hour earlier in UTC.
    heard = len(tg.inbox(mentor))
    await tg.press(zofia, booked, "Move")
    await tg.press(zofia, tg.message(booked), "Mon 29.03")
    await tg.press(zofia, tg.message(booked), "10:00")
    moved = tg.message(booked)
    assert "✅ Moved" in moved.text and "10:00 Warsaw (UTC+2)" in moved.text, moved.text
    told = [m.text for m in tg.inbox(mentor)[heard:] if m.text]
    assert any(
        "10:00 Warsaw (UTC+2)" in text and "10:00 Warsaw (UTC+1)" in text for text in told
    ), told
    async with db() as session:
        made = (await session.execute(select(Booking))).scalar_one()
        meeting = await session.get(Meeting, made.meeting_id)
        assert made.starts_at == AFTER and meeting is not None and meeting.starts_at == AFTER
        reminders = {
            r.offset_seconds: r for r in (await session.execute(select(Reminder))).scalars()
        }
    # The day before is the day of the change itself: 10:00 CEST on Sunday is 08:00 UTC.
    assert reminders[86400].due_at == datetime(2027, 3, 28, 8, tzinfo=UTC)
    assert reminders[3600].due_at == datetime(2027, 3, 29, 7, tzinfo=UTC)

    # A coordinator in Warsaw sees it at 10:00 in the week's schedule and its .ics at 08:00 UTC.
    coordinator = await world.coordinator("Agnieszka", language="en")
    await tg.send(coordinator, coordinator, "/tz Europe/Warsaw")
    await tg.send(coordinator, coordinator, "/consultations 29.03")
    text, _picture, calendar = tg.inbox(coordinator)[-3:]
    assert "Warsaw (UTC+" in text.text and f"10:00 #{meeting.id}" in text.text, text.text
    assert calendar.file_bytes is not None
    [event] = icalendar.Calendar.from_ical(calendar.file_bytes).walk("VEVENT")
    assert event.decoded("dtstart") == AFTER

    # The reminders, when they fall due, say 10:00 in Warsaw.
    for offset, left in ((86400, "in 24 h"), (3600, "in 1 h")):
        await _remind(world, reminders[offset].id, reminders[offset].due_at)
        for person in (zofia, mentor):
            reminder = [m.text for m in tg.inbox(person) if "Reminder" in m.text][-1]
            assert left in reminder and "10:00 Warsaw (UTC+2)" in reminder, reminder
