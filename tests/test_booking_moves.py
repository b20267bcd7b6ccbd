"""An activist moves a booked consultation: with «Move» under the booking or ``/reschedule N``,
to another free time of the same mentor; what cannot be a move is refused and changes nothing.

The bot's clock stands at Monday 1 March 2027, 09:00 in Moscow, so the days offered are known.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory, transaction
from bot.domain import booking, office_hours, tickets
from bot.domain.access import Actor
from bot.domain.booking import NotASlot, SlotTaken
from bot.sandbox.emulator.server import FakeTelegram
from models import Booking, Meeting, Person, Reminder, Topic
from tests.booking_steps import BOOK, book_from_ticket, request_with_hours
from tests.burst import seed
from tests.conftest import World
from tests.ticket_steps import ask

MOSCOW = ZoneInfo("Europe/Moscow")
MONDAY = datetime(2027, 3, 1, 9, tzinfo=MOSCOW).astimezone(UTC)
HOURS = "Пн-Вс 10:00-12:00 1h"
MOVE = "Перенести"


def msk(day: int, hour: int) -> datetime:
    """A moment of March 2027 on Moscow time, in UTC."""
    return datetime(2027, 3, day, hour, tzinfo=MOSCOW).astimezone(UTC)


def minutes(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


async def _bookings(db: async_sessionmaker[AsyncSession]) -> list[Booking]:
    async with db() as session:
        return list((await session.execute(select(Booking).order_by(Booking.id))).scalars())


async def _state(db: async_sessionmaker[AsyncSession]) -> tuple[object, ...]:
    """Everything a move changes: the bookings, the meetings and the reminders."""
    async with db() as session:
        bookings = (await session.execute(select(Booking.starts_at, Booking.live))).all()
        meetings = (await session.execute(select(Meeting.starts_at, Meeting.revision))).all()
        reminders = (await session.execute(select(Reminder.due_at, Reminder.sent_at))).all()
    return tuple(bookings), tuple(meetings), tuple(reminders)


async def test_an_activist_moves_a_booking_with_the_button(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    world.clock.set(MONDAY)
    tg = world.tg
    scene = await request_with_hours(world, HOURS)
    activist, mentor = scene.activist, scene.mentor
    booked = await book_from_ticket(tg, activist, scene.ticket, day=1, time="10:00")
    assert "✅ Записано" in booked.text and "10:00 МСК" in booked.text
    assert booked.buttons == [MOVE]
    [made] = await _bookings(db)
    assert made.starts_at == msk(2, 10)

    await tg.press(activist, booked, MOVE)
    days = tg.message(booked)  # the same message, now the days
    assert "Перенос консультации по запросу" in days.text and "МСК" in days.text
    assert days.buttons[:3] == ["Пн 01.03", "Вт 02.03", "Ср 03.03"]
    await tg.press(activist, days, "Чт 04.03")
    assert tg.message(booked).buttons[:2] == ["10:00", "11:00"]
    heard_before = len(tg.inbox(mentor))
    answer = await tg.press(activist, tg.message(booked), "11:00")
    assert answer.text == "Перенесено."

    moved = tg.message(booked)
    assert "✅ Перенесено" in moved.text and "11:00 МСК" in moved.text
    assert moved.buttons == [MOVE]
    told = tg.inbox(mentor)[heard_before:]
    assert any(
        "перенесена" in m.text and "11:00" in m.text and "Кто перенёс: Активистка" in m.text
        for m in told
    ), told
    assert any(m.document is not None for m in told)  # the new .ics
    async with db() as session:
        [row] = (await session.execute(select(Booking))).scalars().all()
        assert row.starts_at == msk(4, 11) and row.ends_at == msk(4, 12) and row.live
        meeting = await session.get(Meeting, row.meeting_id)
        assert meeting is not None and meeting.starts_at == msk(4, 11)
        reminders = (await session.execute(select(Reminder))).scalars().all()
        assert len(reminders) == 3
        assert all(
            r.due_at == msk(4, 11) - timedelta(seconds=r.offset_seconds) and r.sent_at is None
            for r in reminders
        )

    # The old time is free again.
    await tg.press(activist, tg.message(booked), MOVE)
    await tg.press(activist, tg.message(booked), "Вт 02.03")
    assert tg.message(booked).buttons[:2] == ["10:00", "11:00"]


async def test_an_activist_moves_a_booking_with_reschedule(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    world.clock.set(MONDAY)
    tg = world.tg
    scene = await request_with_hours(world, HOURS)
    activist, mentor = scene.activist, scene.mentor
    await book_from_ticket(tg, activist, scene.ticket, day=1, time="10:00")
    [made] = await _bookings(db)
    number = made.meeting_id

    await tg.send(activist, activist, "/meetings")
    listed = [m.text for m in tg.inbox(activist)[-3:]]
    assert any("можно перенести: /reschedule N" in text for text in listed), listed
    await tg.send(activist, activist, f"/reschedule {number}")
    picker = tg.last(activist)
    assert "Перенос консультации по запросу" in picker.text and "Вт 02.03" in picker.buttons

    await tg.send(activist, activist, f"/reschedule {number} 03.03.2027 11:00")
    assert "✅ Перенесено" in tg.last(activist).text and "11:00 МСК" in tg.last(activist).text
    recent = tg.inbox(mentor)[-3:]
    assert any("перенесена" in m.text or "Перенос" in m.text for m in recent), recent
    [row] = await _bookings(db)
    assert row.starts_at == msk(3, 11)

    # The mentor still moves it with a date and time, to any moment.
    await tg.send(mentor, mentor, f"/reschedule {number} 05.03.2027 15:00")
    assert f"Встреча #{number} перенесена" in tg.last(mentor).text
    [row] = await _bookings(db)
    assert row.starts_at == msk(5, 15)


async def test_moves_that_cannot_be_are_refused_and_change_nothing(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    world.clock.set(MONDAY)
    tg = world.tg
    scene = await request_with_hours(world, HOURS)
    activist = scene.activist
    booked = await book_from_ticket(tg, activist, scene.ticket, day=1, time="10:00")
    [made] = await _bookings(db)
    number, ident = made.meeting_id, made.id
    before = await _state(db)

    typed = [
        (f"/reschedule {number} 03.03.2027 10:15", "Это не свободное время наставника"),
        (f"/reschedule {number} 03.03.2027 13:00", "Это не свободное время наставника"),
        (f"/reschedule {number} 28.02.2027 10:00", "Это время уже прошло"),
        (f"/reschedule {number} 20.03.2027 10:00", "Это не свободное время наставника"),
    ]
    for command, expected in typed:
        await tg.send(activist, activist, command)
        reply = tg.last(activist)
        assert expected in reply.text and "Перенос консультации" in reply.text, (command, reply)
        assert "Ср 03.03" in reply.buttons  # and what is free instead
    assert await _state(db) == before

    # Someone else's booking: by a command and by forged buttons.
    stranger = tg.user("Посторонняя", started=True)
    await tg.send(stranger, stranger, f"/reschedule {number} 03.03.2027 10:00")
    assert "Это могут только координаторы программы" in tg.last(stranger).text
    for data in (f"bm:{ident}", f"bmd:{ident}:{msk(3, 10).date().toordinal()}",
                 f"bmt:{ident}:{minutes(msk(3, 10))}"):  # fmt: skip
        answer = await tg.press_data(stranger, booked, data)
        assert "устарела" in str(answer.text), (data, answer)
    # The activist's own forged buttons: a past time, a time off the grid, bad data.
    forged = [
        f"bmt:{ident}:{minutes(MONDAY - timedelta(days=1))}",
        f"bmt:{ident}:{minutes(msk(3, 10)) + 7}",
        f"bmt:{ident}:{minutes(msk(2, 10))}",  # where it already is
        f"bmt:{ident}:x",
        f"bmd:{ident}:99999999999",
        f"bm:{ident + 50}",
        f"bmt:{ident + 50}:{minutes(msk(3, 10))}",
    ]
    for data in forged:
        answer = await tg.press_data(activist, booked, data)
        assert "больше не свободно" in str(answer.text) or "устарела" in str(answer.text), (
            data,
            answer,
        )
    assert await _state(db) == before

    # Cancelled: there is nothing to move.
    await tg.send(activist, activist, f"/cancel_meeting {number}")
    cancelled = await _state(db)
    answer = await tg.press_data(activist, booked, f"bm:{ident}")  # «Move» under the booking
    assert "началась или отменена" in str(answer.text)
    await tg.send(activist, activist, f"/reschedule {number} 03.03.2027 10:00")
    assert "началась или отменена" in tg.last(activist).text
    assert await _state(db) == cancelled


async def test_a_time_taken_in_the_meantime_is_refused_and_the_free_ones_shown(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    world.clock.set(MONDAY)
    tg = world.tg
    first, second = tg.user("Первая", started=True), tg.user("Вторая", started=True)
    group = await world.registered_group(members=(first, second))
    mentor = await world.mentor("Наставница")
    await tg.send(mentor, mentor, f"/hours {HOURS}")
    mine = await ask(tg, first, group, "Как зарегистрировать НКО? #юрист")
    theirs = await ask(tg, second, group, "Какой договор аренды подписать? #юрист")

    # Booking: the first activist looks at Tuesday's times while the second books 10:00.
    await tg.send(first, first, f"/ticket {mine}")
    await tg.press(first, tg.last(first), BOOK)
    picker = tg.last(first)
    await tg.press(first, picker, "Вт 02.03")
    assert tg.message(picker).buttons[:2] == ["10:00", "11:00"]
    assert "✅ Записано" in (await book_from_ticket(tg, second, theirs, day=1, time="10:00")).text
    answer = await tg.press(first, tg.message(picker), "10:00")
    assert "только что заняли" in str(answer.text)
    assert tg.message(picker).buttons[0] == "11:00"  # what is still free
    assert len(await _bookings(db)) == 1

    # Moving: the first books 11:00 and looks at Wednesday; the second moves there first.
    await tg.press(first, tg.message(picker), "11:00")
    assert "✅ Записано" in tg.message(picker).text
    await tg.press(first, tg.message(picker), MOVE)
    await tg.press(first, tg.message(picker), "Ср 03.03")
    assert tg.message(picker).buttons[:2] == ["10:00", "11:00"]
    theirs_booking = next(b for b in await _bookings(db) if b.ticket_id == theirs)
    await tg.send(second, second, f"/reschedule {theirs_booking.meeting_id} 03.03.2027 10:00")
    assert "✅ Перенесено" in tg.last(second).text
    answer = await tg.press(first, tg.message(picker), "10:00")
    assert "только что заняли" in str(answer.text)
    assert tg.message(picker).buttons[0] == "11:00"
    by_ticket = {b.ticket_id: b.starts_at for b in await _bookings(db)}
    assert by_ticket == {mine: msk(2, 11), theirs: msk(3, 10)}


async def test_two_activists_moving_to_one_slot_make_one_move(
    server: FakeTelegram, database_url: str
) -> None:
    """Ten rounds of two booked activists taking the same free slot at once, on the database:
    one moves, the other hears it was taken and keeps the time they had."""
    cast = await seed(database_url, server, groups=1, mentors=1, activists=2)
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    now = MONDAY
    hours = office_hours.parse_hours("Пн-Вс 00:00-24:00 10m")
    try:
        async with transaction(factory) as session:
            people = {p.telegram_id: p for p in (await session.execute(select(Person))).scalars()}
            mentor = people[cast.mentors[0].id]
            await office_hours.set_hours(session, mentor, hours, now)
            legal = await session.scalar(
                select(Topic).where(
                    Topic.programme_id == mentor.roles[0].programme_id, Topic.code == "legal"
                )
            )
            free = office_hours.slots(hours, MOSCOW, now=now + timedelta(hours=1))
            activists = [people[fake.id] for fake in cast.activists]
            rounds: list[tuple[int, int, datetime]] = []
            for round_ in range(10):
                pair = []
                for side, author in enumerate(activists):
                    ticket, _new = await tickets.open_ticket(
                        session,
                        programme_id=next(r.programme_id for r in mentor.roles),
                        author=author,
                        text=f"Вопрос {round_}-{side}",
                        chat_telegram_id=cast.groups[0].id,
                        message_id=100 * round_ + side,
                        group_id=None,
                        topic=legal,
                        topic_confirmed=True,
                        now=now,
                    )
                    await tickets.claim_ticket(session, ticket, mentor, now, capacity=1000)
                    made, _meeting, _took = await booking.book(
                        session,
                        Actor.of(author, is_admin=False, language="ru"),
                        ticket,
                        mentor.id,
                        free[3 * round_ + side].starts,
                        now=now,
                        capacity=1000,
                        default_zone="Europe/Moscow",
                        title="Консультация",
                        offsets=[],
                        video_base_url="https://meet.example.org",
                    )
                    pair.append(made.id)
                rounds.append((pair[0], pair[1], free[3 * round_ + 2].starts))  # fmt: skip

        async def attempt(booking_id: int, author_tg: int, starts_at: datetime) -> str:
            try:
                async with transaction(factory) as session:
                    author = (
                        await session.execute(select(Person).where(Person.telegram_id == author_tg))
                    ).scalar_one()
                    await booking.move(
                        session, Actor.of(author, is_admin=False, language="ru"), booking_id,
                        starts_at, now=now, default_zone="Europe/Moscow",
                    )  # fmt: skip
            except (SlotTaken, NotASlot):
                return "taken"
            return "moved"

        for first, second, target in rounds:
            outcomes = await asyncio.gather(
                attempt(first, cast.activists[0].id, target),
                attempt(second, cast.activists[1].id, target),
            )
            assert sorted(outcomes) == ["moved", "taken"], (target, outcomes)
            async with factory() as session:
                at_target = await session.scalar(
                    select(func.count())
                    .select_from(Booking)
                    .where(Booking.starts_at == target, Booking.live.is_(True))
                )
                meetings_there = await session.scalar(
                    select(func.count()).select_from(Meeting).where(Meeting.starts_at == target)
                )
            assert at_target == 1 and meetings_there == 1
        async with factory() as session:
            live = (await session.execute(select(Booking))).scalars().all()
        assert len(live) == 20 and len({b.starts_at for b in live}) == 20
    finally:
        await engine.dispose()
