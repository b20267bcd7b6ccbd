"""Booking a consultation in a mentor's office hours: as an activist does it through the bot,
and fifty races of two activists for one slot on the database itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from bot.db import create_engine, create_session_factory, transaction
from bot.domain import booking, office_hours, tickets
from bot.domain.access import Actor
from bot.domain.booking import SlotTaken
from bot.sandbox.emulator.server import FakeTelegram
from models import (
    Booking,
    BookingStatus,
    Meeting,
    MeetingAudience,
    Person,
    Reminder,
    Ticket,
    TicketStatus,
    Topic,
)
from tests.booking_steps import book_from_ticket, request_with_hours
from tests.burst import seed
from tests.conftest import World
from tests.ticket_steps import card


async def _count(db: async_sessionmaker[AsyncSession], model: type) -> int:
    async with db() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_activist_on_moscow_time_books_an_omsk_mentors_evening(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    tg = world.tg
    scene = await request_with_hours(world, "Пн 18:00-20:00", mentor_zone="Asia/Omsk")
    activist, mentor, n = scene.activist, scene.mentor, scene.ticket

    await tg.send(activist, activist, f"/ticket {n}")
    view = tg.last(activist)
    await tg.press(activist, view, "Записаться на консультацию")
    days = tg.last(activist)
    assert "Выберите день" in days.text and "МСК" in days.text
    assert days.buttons and all(b.startswith("Пн ") for b in days.buttons)
    await tg.press(activist, days, days.buttons[0])
    times = tg.message(days)
    assert times.buttons[:4] == ["15:00", "15:30", "16:00", "16:30"]
    await tg.press(activist, times, "15:00")

    booked = tg.message(days)
    assert "✅ Записано" in booked.text and "15:00 МСК" in booked.text
    async with db() as session:
        ticket = await session.get(Ticket, n)
        assert ticket is not None and ticket.status == TicketStatus.claimed
        made = (await session.execute(select(Booking))).scalar_one()
        meeting = await session.get(Meeting, made.meeting_id)
        assert meeting is not None and meeting.ticket_id == n
        assert made.starts_at.astimezone(UTC).hour == 12  # 15:00 in Moscow, 18:00 in Omsk
        audience = (await session.execute(select(MeetingAudience.person_id))).scalars().all()
        assert len(audience) == 2
        assert await session.scalar(select(func.count()).select_from(Reminder)) == 3
    # The activist is invited; the mentor is told who booked, and not asked to come.
    invitations = [m for m in tg.inbox(activist) if "Придёте?" in m.text]
    assert len(invitations) == 1 and "15:00 МСК" in invitations[0].text, tg.inbox(activist)
    notices = [m for m in tg.inbox(mentor) if "К вам записались" in m.text]
    assert len(notices) == 1 and "18:00" in notices[0].text and not notices[0].buttons
    assert not any("Придёте?" in m.text for m in tg.inbox(mentor))
    for person in (activist, mentor):
        assert any(m.document is not None for m in tg.inbox(person))
    # The mentor's card now says the request is theirs.
    assert "Решено" in card(tg, mentor, n).buttons

    # The slot is taken now; a second booking for the same request is refused.
    await tg.press(activist, view, "Записаться на консультацию")
    assert "уже есть консультация" in str(tg.last_answer(activist).text)
    assert await _count(db, Booking) == 1

    # The activist calls it off: both are told, and the slot is free again.
    await tg.send(activist, activist, f"/cancel_meeting {made.meeting_id}")
    assert f"Встреча #{made.meeting_id} отменена" in tg.last(activist).text
    assert any("отменена" in m.text for m in tg.inbox(mentor)[-3:]), tg.inbox(mentor)[-3:]
    async with db() as session:
        again = (await session.execute(select(Booking))).scalar_one()
        assert again.live is None
    await tg.press(activist, view, "Записаться на консультацию")
    days = tg.last(activist)
    await tg.press(activist, days, days.buttons[0])
    assert "15:00" in tg.message(days).buttons


async def test_booking_from_the_claim_notice_goes_on_in_private(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    tg = world.tg
    scene = await request_with_hours(world, "Пн-Вс 10:00-12:00 1h")
    activist, group, mentor, n = scene.activist, scene.group, scene.mentor, scene.ticket
    await tg.press(mentor, card(tg, mentor, n), "Взять")
    notice = next(m for m in tg.messages(group) if "занимается" in m.text and f"#{n}" in m.text)
    assert notice.buttons == ["Записаться на консультацию"]

    stranger = tg.user("Посторонний", started=True)
    group.members[stranger.id] = "member"
    await tg.press(stranger, notice, "Записаться на консультацию")
    assert "только автор запроса" in str(tg.last_answer(stranger).text)  # only the author books

    await tg.press(activist, notice, "Записаться на консультацию")
    assert "Сначала откройте личный чат" in str(tg.last_answer(activist).text)
    await tg.start(activist)
    await tg.press(activist, notice, "Записаться на консультацию")
    assert "в личные сообщения" in str(tg.last_answer(activist).text)
    days = tg.last(activist)
    assert len(days.buttons) >= 13  # every day of the next two weeks has hours
    await tg.press(activist, days, days.buttons[1])
    await tg.press(activist, tg.message(days), tg.message(days).buttons[0])
    assert "✅ Записано" in tg.message(days).text
    assert await _count(db, Booking) == 1


async def test_a_forged_slot_is_refused_and_books_nothing(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    tg = world.tg
    scene = await request_with_hours(world, "Пн 18:00-20:00")
    activist, mentor, n = scene.activist, scene.mentor, scene.ticket
    await tg.send(activist, activist, f"/ticket {n}")
    view = tg.last(activist)
    async with db() as session:
        mentor_id = await session.scalar(select(Person.id).where(Person.telegram_id == mentor.id))
    past = int((datetime.now(UTC) - timedelta(days=1)).timestamp() // 60)
    odd = int((datetime.now(UTC) + timedelta(days=2, minutes=7)).timestamp() // 60)
    forged = [
        f"bs:{n}:{mentor_id}:{past}", f"bs:{n}:{mentor_id}:{odd}", f"bs:{n}:999:{odd}",
        f"bs:{n}:x:1", f"bd:{n}:99999999999", f"bs:{n + 50}:{mentor_id}:{odd}",
    ]  # fmt: skip
    for data in forged:
        await tg.press_data(activist, view, data)
        answer = tg.last_answer(activist).text
        assert answer is not None, data
        assert "больше не свободно" in answer or "устарела" in answer, (data, answer)
    assert await _count(db, Booking) == 0
    assert await _count(db, Meeting) == 0


async def test_two_activists_race_for_one_slot_fifty_times(
    server: FakeTelegram, database_url: str
) -> None:
    cast = await seed(database_url, server, groups=2, mentors=1, activists=2)
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    now = datetime.now(UTC)
    try:
        async with transaction(factory) as session:
            people = {p.telegram_id: p for p in (await session.execute(select(Person))).scalars()}
            mentor = people[cast.mentors[0].id]
            await office_hours.set_hours(
                session, mentor, office_hours.parse_hours("Пн-Вс 00:00-24:00 10m"), now
            )
            programme_id = next(r.programme_id for r in mentor.roles)
            legal = await session.scalar(
                select(Topic).where(Topic.programme_id == programme_id, Topic.code == "legal")
            )
            numbers: list[tuple[int, int]] = []
            for round_ in range(50):
                pair = []
                for side, fake in enumerate(cast.activists):
                    ticket, _new = await tickets.open_ticket(
                        session, programme_id=programme_id, author=people[fake.id],
                        text=f"Вопрос {round_}-{side}", chat_telegram_id=cast.groups[side].id,
                        message_id=1000 + round_, group_id=None, topic=legal,
                        topic_confirmed=True, now=now,
                    )  # fmt: skip
                    await tickets.claim_ticket(session, ticket, mentor, now, capacity=1000)
                    pair.append(ticket.id)
                numbers.append((pair[0], pair[1]))
        free = office_hours.slots(
            office_hours.parse_hours("Пн-Вс 00:00-24:00 10m"),
            ZoneInfo("Europe/Moscow"),
            now=now + timedelta(hours=1),
        )

        async def attempt(ticket_id: int, activist_tg: int, starts_at: datetime) -> str:
            try:
                async with transaction(factory) as session:
                    author = (
                        await session.execute(
                            select(Person).where(Person.telegram_id == activist_tg)
                        )
                    ).scalar_one()
                    ticket = await session.get(Ticket, ticket_id)
                    assert ticket is not None
                    await booking.book(
                        session, Actor.of(author, is_admin=False, language="ru"), ticket,
                        mentor.id, starts_at, now=now, capacity=1000,
                        default_zone="Europe/Moscow", title="Консультация", offsets=[],
                        video_base_url="https://meet.example.org",
                    )  # fmt: skip
            except SlotTaken:
                return "taken"
            return "booked"

        for (first, second), slot in zip(numbers, free, strict=False):
            outcomes = await asyncio.gather(
                attempt(first, cast.activists[0].id, slot.starts),
                attempt(second, cast.activists[1].id, slot.starts),
            )
            assert sorted(outcomes) == ["booked", "taken"], (slot, outcomes)
        async with factory() as session:
            booked = (await session.execute(select(Booking))).scalars().all()
        assert len(booked) == 50
        assert len({b.starts_at for b in booked}) == 50
    finally:
        await engine.dispose()


async def test_a_mentor_marks_a_no_show_and_stats_count_the_consultations(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    tg = world.tg
    scene = await request_with_hours(world, "Пн-Вс 10:00-12:00 1h")
    activist, mentor = scene.activist, scene.mentor
    coordinator = await world.coordinator("Координатор")
    assert "✅ Записано" in (await book_from_ticket(tg, activist, scene.ticket)).text
    async with db() as session:
        made = (await session.execute(select(Booking))).scalar_one()
    meeting_id = made.meeting_id

    await tg.send(mentor, mentor, f"/noshow {meeting_id}")
    assert "ещё не закончилась" in tg.last(mentor).text
    await tg.send(activist, activist, f"/noshow {meeting_id}")
    assert "может только её наставник" in tg.last(activist).text
    await tg.send(mentor, mentor, "/noshow")
    assert "Напишите номер" in tg.last(mentor).text

    # As if it had been a month ago: it has ended, and nobody came.
    shift = timedelta(days=-30)
    async with transaction(db) as session:
        booked = await session.get(Booking, made.id)
        meeting = await session.get(Meeting, meeting_id)
        assert booked is not None and meeting is not None
        booked.starts_at += shift
        booked.ends_at += shift
        meeting.starts_at += shift
    await tg.send(mentor, mentor, f"/noshow {meeting_id}")
    assert f"на консультацию #{meeting_id} никто не пришёл" in tg.last(mentor).text
    async with db() as session:
        marked = await session.get(Booking, made.id)
        assert marked is not None and marked.status == BookingStatus.no_show

    await tg.send(coordinator, coordinator, "/stats all")
    figures = next(m.text for m in reversed(tg.inbox(coordinator)) if "Консультации" in m.text)
    assert "• всего — 1 / 0 / 0 / 0 / 1" in figures
    assert "• Наставница — 1 / 0 / 0 / 0 / 1" in figures


async def test_a_rescheduled_consultation_moves_its_slot_and_reminders(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    tg = world.tg
    scene = await request_with_hours(world, "Пн-Вс 10:00-12:00 1h")
    activist, mentor = scene.activist, scene.mentor
    first = await book_from_ticket(tg, activist, scene.ticket, day=1, time="10:00")
    assert "✅ Записано" in first.text
    async with db() as session:
        made = (await session.execute(select(Booking))).scalar_one()
    old_start = made.starts_at

    # The mentor moves it a day on; the activist hears of it; the old slot is free again.
    moved_to = old_start.astimezone(ZoneInfo("Europe/Moscow")) + timedelta(days=1, hours=1)
    await tg.send(mentor, mentor, f"/reschedule {made.meeting_id} {moved_to:%d.%m.%Y %H:%M}")
    assert f"Встреча #{made.meeting_id} перенесена" in tg.last(mentor).text
    assert any("Перенос" in m.text for m in tg.inbox(activist)[-3:]), tg.inbox(activist)[-3:]
    async with db() as session:
        booked = await session.get(Booking, made.id)
        assert booked is not None and booked.starts_at == moved_to.astimezone(UTC)
        reminders = (await session.execute(select(Reminder))).scalars().all()
        assert reminders and all(
            r.due_at == moved_to.astimezone(UTC) - timedelta(seconds=r.offset_seconds)
            for r in reminders
        )
    async with transaction(db) as session:
        ticket = await session.get(Ticket, scene.ticket)
        assert ticket is not None
        freed = await booking.offers(
            session, ticket, now=datetime.now(UTC), capacity=10, default_zone="Europe/Moscow"
        )
    assert old_start in {slot.starts for offer in freed for slot in offer.slots}
    assert moved_to.astimezone(UTC) not in {slot.starts for offer in freed for slot in offer.slots}


async def test_a_booking_whose_claim_was_lost_leaves_nothing_behind(
    server: FakeTelegram, database_url: str
) -> None:
    """The activist saw the request open and booked mentor A; mentor B took it a moment
    earlier. The claim fails, and the slot it would have held is not kept either."""
    cast = await seed(database_url, server, groups=1, mentors=2, activists=1)
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    now = datetime.now(UTC)
    try:
        async with transaction(factory) as session:
            people = {p.telegram_id: p for p in (await session.execute(select(Person))).scalars()}
            first, second = (people[m.id] for m in cast.mentors)
            author = people[cast.activists[0].id]
            hours = office_hours.parse_hours("Пн-Вс 10:00-12:00 1h")
            await office_hours.set_hours(session, first, hours, now)
            legal = await session.scalar(
                select(Topic).where(
                    Topic.programme_id == first.roles[0].programme_id, Topic.code == "legal"
                )
            )
            ticket, _new = await tickets.open_ticket(
                session, programme_id=next(r.programme_id for r in first.roles), author=author,
                text="Вопрос", chat_telegram_id=cast.groups[0].id, message_id=1, group_id=None,
                topic=legal, topic_confirmed=True, now=now,
            )  # fmt: skip
            await tickets.claim_ticket(session, ticket, second, now, capacity=10)
            slot = office_hours.slots(hours, ZoneInfo("Europe/Moscow"), now=now)[0]
            # As the booking press saw it: still open.
            set_committed_value(ticket, "status", TicketStatus.open)
            set_committed_value(ticket, "assignee_id", None)
            with pytest.raises(tickets.AlreadyTaken):
                await booking.book(
                    session, Actor.of(author, is_admin=False, language="ru"), ticket,
                    first.id, slot.starts, now=now, capacity=10,
                    default_zone="Europe/Moscow", title="Консультация", offsets=[],
                    video_base_url="https://meet.example.org",
                )  # fmt: skip
        async with factory() as session:
            assert await session.scalar(select(func.count()).select_from(Booking)) == 0
            assert await session.scalar(select(func.count()).select_from(Meeting)) == 0
            kept = await session.get(Ticket, ticket.id)
            assert kept is not None and kept.assignee_id == second.id
    finally:
        await engine.dispose()


async def test_hours_across_midnight_in_the_activists_zone_are_shown_on_her_day(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    """Omsk Tuesday 01:00 is Moscow Monday 22:00: the hours are accepted, offered on Monday
    evening, and the booking is 01:00 on Tuesday for the mentor."""
    world.clock.set(datetime(2027, 2, 28, 12, tzinfo=UTC))  # Sunday
    tg = world.tg
    scene = await request_with_hours(world, "Вт 01:00-02:00 1h", mentor_zone="Asia/Omsk")
    activist, mentor, n = scene.activist, scene.mentor, scene.ticket
    assert any("Часы консультаций сохранены" in m.text for m in tg.inbox(mentor))
    await tg.send(activist, activist, f"/ticket {n}")
    view = tg.last(activist)
    await tg.press(activist, view, "Записаться на консультацию")
    days = tg.last(activist)
    assert days.buttons == ["Пн 01.03", "Пн 08.03"]
    await tg.press(activist, days, "Пн 01.03")
    assert tg.message(days).buttons[0] == "22:00"
    await tg.press(activist, tg.message(days), "22:00")
    assert "✅ Записано" in tg.message(days).text and "22:00 МСК" in tg.message(days).text
    [invitation] = [m.text for m in tg.inbox(mentor) if "К вам записались" in m.text]
    assert "2 марта" in invitation and "01:00" in invitation, invitation
    async with db() as session:
        made = (await session.execute(select(Booking))).scalar_one()
    assert made.starts_at == datetime(2027, 3, 1, 19, tzinfo=UTC)

    # A second booking for the request, by a button made up for another slot, is refused.
    async with db() as session:
        mentor_id = await session.scalar(select(Person.id).where(Person.telegram_id == mentor.id))
    other = int(datetime(2027, 3, 8, 19, tzinfo=UTC).timestamp() // 60)
    answer = await tg.press_data(activist, view, f"bs:{n}:{mentor_id}:{other}")
    assert "уже есть консультация" in str(answer.text)
    assert await _count(db, Booking) == 1 and await _count(db, Meeting) == 1
