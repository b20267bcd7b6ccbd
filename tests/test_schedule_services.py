"""Meeting services, the calendar file and the reminder bookkeeping on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import create_engine, create_session_factory, upgrade
from bot.delivery.outbox import Row
from bot.domain import meetings, tickets
from bot.domain.access import Actor
from bot.domain.errors import InvalidInput, NotAllowed
from bot.domain.meetings import MeetingPlan
from bot.domain.people import Identity, ensure_role, upsert_person
from bot.domain.programmes import find_or_create_programme, note_chat, register_chat
from bot.i18n import create_i18n
from bot.jobs.reminders import HORIZON, ReminderRunner, job_id
from bot.views.calendar import meeting_ics
from models import (
    GroupChat,
    Meeting,
    MeetingStatus,
    Person,
    Programme,
    Reminder,
    RoleKind,
    Rsvp,
    Ticket,
    TicketStatus,
)

T0 = datetime(2027, 2, 20, 9, 0, tzinfo=UTC)
START = datetime(2027, 2, 27, 12, 0, tzinfo=UTC)  # 15:00 in Moscow
OFFSETS = [timedelta(hours=24), timedelta(hours=1), timedelta(minutes=10)]
TITLE = "Видеоконференция с координаторами Луганской и Донецкой групп"
VIDEO = "https://meet.jit.si"


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


class School:
    """A programme with two groups and people in it, made through the bot's own services."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._next_id = 5000

    async def setup(self) -> None:
        self.programme, _ = await find_or_create_programme(self.session, "ШСП на Донбассе", T0)
        self.other, _ = await find_or_create_programme(self.session, "Школа НКО Омска", T0)
        self.admin = await self.person("Админ")
        self.luhansk = await self.group(-1001, "Луганская группа", self.programme)
        self.donetsk = await self.group(-1002, "Донецкая группа", self.programme)
        self.omsk = await self.group(-1003, "Омская группа", self.other)
        self.coordinator = await self.person("Марина", RoleKind.coordinator)
        self.mentor = await self.person("Ирина", RoleKind.mentor, zone="Asia/Omsk")
        self.activist = await self.person("Ольга", RoleKind.activist)
        self.outsider = await self.person("Пётр", RoleKind.activist, programme=self.other)

    async def person(
        self,
        name: str,
        kind: RoleKind | None = None,
        *,
        zone: str | None = None,
        programme: Programme | None = None,
    ) -> Person:
        self._next_id += 1
        person = await upsert_person(
            self.session, Identity(telegram_id=self._next_id, first_name=name), T0, private=True
        )
        person.timezone = zone
        if kind is not None:
            await ensure_role(self.session, person, (programme or self.programme).id, kind, now=T0)
        await self.session.flush()
        return person

    async def group(self, chat_id: int, title: str, programme: Programme) -> GroupChat:
        chat = await note_chat(self.session, chat_id, title, T0)
        await register_chat(self.session, chat, programme, self.admin, T0)
        return chat

    def actor(self, person: Person, *, admin: bool = False) -> Actor:
        return Actor.of(person, is_admin=admin, language="ru")

    async def conference(
        self, *groups: GroupChat, start: datetime = START, now: datetime = T0
    ) -> Meeting:
        return await meetings.schedule_for_groups(
            self.session,
            self.actor(self.coordinator),
            list(groups or (self.luhansk,)),
            MeetingPlan(title=TITLE, starts_at=start, zone="Europe/Moscow"),
            offsets=OFFSETS,
            video_base_url=VIDEO,
            now=now,
        )

    async def claimed_ticket(self) -> Ticket:
        ticket, _ = await tickets.open_ticket(
            self.session,
            programme_id=self.programme.id,
            author=self.activist,
            text="Нужна консультация по уставу АНО",
            chat_telegram_id=self.luhansk.telegram_id,
            message_id=77,
            group_id=self.luhansk.id,
            topic=None,
            topic_confirmed=False,
            now=T0,
        )
        ticket.assignee_id = self.mentor.id
        ticket.status = TicketStatus.claimed
        await self.session.flush()
        return ticket


@pytest.fixture
async def school(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[School]:
    async with factory() as session:
        place = School(session)
        await place.setup()
        yield place
        await session.rollback()


async def _reminders(session: AsyncSession, meeting: Meeting) -> list[Reminder]:
    result = await session.execute(
        select(Reminder).where(Reminder.meeting_id == meeting.id).order_by(Reminder.due_at)
    )
    return list(result.scalars())


async def test_a_coordinator_schedules_a_conference_with_a_reminder_per_offset(
    school: School,
) -> None:
    meeting = await school.conference(school.luhansk, school.donetsk)
    assert meeting.status == MeetingStatus.scheduled
    assert meeting.starts_at == START
    assert meeting.duration == meetings.DEFAULT_DURATION
    assert meeting.video_url.startswith(f"{VIDEO}/{meetings.ROOM_PREFIX}")
    assert {a.group_id for a in meeting.audience} == {school.luhansk.id, school.donetsk.id}
    reminders = await _reminders(school.session, meeting)
    assert [r.due_at for r in reminders] == [START - offset for offset in OFFSETS]
    assert all(r.sent_at is None and not r.skipped for r in reminders)


async def test_video_rooms_are_fresh_and_unguessable() -> None:
    rooms = {meetings.new_room(VIDEO) for _ in range(200)}
    assert len(rooms) == 200
    token = next(iter(rooms)).rsplit("-", 1)[1]
    assert len(token) == 24 and token.isalnum() and token == token.lower()


async def test_an_offset_already_past_is_recorded_as_skipped(school: School) -> None:
    meeting = await school.conference(start=T0 + timedelta(hours=5))
    reminders = await _reminders(school.session, meeting)
    assert [(r.offset_seconds, r.skipped, r.sent_at is not None) for r in reminders] == [
        (86400, True, True),
        (3600, False, False),
        (600, False, False),
    ]


async def test_only_coordinators_schedule_for_their_own_programme(school: School) -> None:
    plan = MeetingPlan(title=TITLE, starts_at=START, zone="Europe/Moscow")
    for person in (school.mentor, school.activist, school.outsider):
        with pytest.raises(NotAllowed):
            await meetings.schedule_for_groups(
                school.session,
                school.actor(person),
                [school.luhansk],
                plan,
                offsets=OFFSETS,
                video_base_url=VIDEO,
                now=T0,
            )
    with pytest.raises(InvalidInput):
        await meetings.schedule_for_groups(
            school.session,
            school.actor(school.admin, admin=True),
            [school.luhansk, school.omsk],
            plan,
            offsets=OFFSETS,
            video_base_url=VIDEO,
            now=T0,
        )
    count = await school.session.scalar(select(func.count()).select_from(Meeting))
    assert count == 0
    groups = await meetings.schedulable_groups(school.session, school.actor(school.coordinator))
    assert [g.title for g in groups] == ["Луганская группа", "Донецкая группа"]


async def test_a_past_moment_or_an_empty_title_stores_nothing(school: School) -> None:
    for plan in (
        MeetingPlan(title=TITLE, starts_at=T0 - timedelta(minutes=1), zone="UTC"),
        MeetingPlan(title="", starts_at=START, zone="UTC"),
        MeetingPlan(title="Я" * 201, starts_at=START, zone="UTC"),
    ):
        with pytest.raises(InvalidInput):
            await meetings.schedule_for_groups(
                school.session,
                school.actor(school.coordinator),
                [school.luhansk],
                plan,
                offsets=OFFSETS,
                video_base_url=VIDEO,
                now=T0,
            )
    assert await school.session.scalar(select(func.count()).select_from(Meeting)) == 0


async def test_a_ticket_call_is_for_the_mentor_who_holds_it(school: School) -> None:
    ticket = await school.claimed_ticket()
    plan = MeetingPlan(title="Созвон по уставу", starts_at=START, zone="Asia/Omsk")
    with pytest.raises(NotAllowed):
        await meetings.schedule_ticket_call(
            school.session,
            school.actor(school.coordinator),
            ticket,
            plan,
            offsets=OFFSETS,
            video_base_url=VIDEO,
            now=T0,
        )
    meeting = await meetings.schedule_ticket_call(
        school.session,
        school.actor(school.mentor),
        ticket,
        plan,
        offsets=OFFSETS,
        video_base_url=VIDEO,
        now=T0,
    )
    assert meeting.ticket_id == ticket.id
    assert [(a.person_id, a.group_id) for a in meeting.audience] == [(school.activist.id, None)]
    heard = await meetings.recipients(school.session, meeting, "Europe/Moscow", "ru")
    assert {r.chat_id for r in heard} == {
        school.activist.telegram_id,
        school.mentor.telegram_id,
    }
    assert await meetings.may_answer(
        school.session, meeting, school.activist.telegram_id, school.activist
    )
    assert not await meetings.may_answer(
        school.session, meeting, school.luhansk.telegram_id, school.activist
    )


async def test_answers_replace_each_other_and_are_counted(school: School) -> None:
    meeting = await school.conference()
    session = school.session
    assert await meetings.may_answer(session, meeting, school.luhansk.telegram_id, school.activist)
    assert not await meetings.may_answer(
        session, meeting, school.donetsk.telegram_id, school.activist
    )
    assert await meetings.answer(session, meeting, school.activist, True, T0)
    assert not await meetings.answer(session, meeting, school.activist, True, T0)
    assert await meetings.answer(session, meeting, school.mentor, False, T0)
    assert await meetings.counts(session, meeting.id) == meetings.RsvpCounts(1, 1)
    assert await meetings.answer(session, meeting, school.mentor, True, T0)
    assert await meetings.counts(session, meeting.id) == meetings.RsvpCounts(2, 0)
    heard = await meetings.recipients(session, meeting, "Europe/Moscow", "ru")
    assert heard[0].chat_id == school.luhansk.telegram_id
    assert {r.chat_id for r in heard[1:]} == {
        school.activist.telegram_id,
        school.mentor.telegram_id,
    }
    mentor = next(r for r in heard if r.chat_id == school.mentor.telegram_id)
    assert mentor.zone == "Asia/Omsk"


async def test_cancelling_drops_unsent_reminders(school: School) -> None:
    meeting = await school.conference(start=T0 + timedelta(hours=5))
    with pytest.raises(NotAllowed):
        await meetings.cancel_meeting(school.session, meeting, school.actor(school.mentor), T0)
    dropped = await meetings.cancel_meeting(
        school.session, meeting, school.actor(school.coordinator), T0
    )
    assert len(dropped) == 2
    assert meeting.status == MeetingStatus.cancelled
    assert meeting.revision == 1
    remaining = await _reminders(school.session, meeting)
    assert [r.offset_seconds for r in remaining] == [86400]  # the skipped one stays as history
    with pytest.raises(InvalidInput):
        await meetings.cancel_meeting(school.session, meeting, school.actor(school.coordinator), T0)


async def test_rescheduling_moves_reminders_and_keeps_answers(school: School) -> None:
    meeting = await school.conference()
    await meetings.answer(school.session, meeting, school.activist, True, T0)
    first, *_rest = await _reminders(school.session, meeting)
    first.sent_at = START - timedelta(hours=24)
    later = START + timedelta(days=7)
    now = START - timedelta(hours=20)
    pending = await meetings.reschedule_meeting(
        school.session, meeting, school.actor(school.coordinator), later, "Asia/Omsk", now
    )
    assert meeting.starts_at == later and meeting.zone == "Asia/Omsk"
    assert meeting.revision == 1
    assert [p.due_at for p in pending] == [later - offset for offset in OFFSETS]
    assert all(r.sent_at is None for r in await _reminders(school.session, meeting))
    assert await meetings.counts(school.session, meeting.id) == meetings.RsvpCounts(1, 0)
    with pytest.raises(InvalidInput):
        await meetings.reschedule_meeting(
            school.session, meeting, school.actor(school.coordinator), now, "UTC", now
        )


async def test_who_sees_which_meetings(school: School) -> None:
    conference = await school.conference()
    ticket = await school.claimed_ticket()
    call = await meetings.schedule_ticket_call(
        school.session,
        school.actor(school.mentor),
        ticket,
        MeetingPlan(title="Созвон", starts_at=START + timedelta(hours=2), zone="UTC"),
        offsets=OFFSETS,
        video_base_url=VIDEO,
        now=T0,
    )

    async def seen(person: Person, group: GroupChat | None = None) -> list[int]:
        found = await meetings.upcoming(school.session, school.actor(person), T0, group=group)
        return [m.id for m in found]

    # The mentor is in no group: only the call about the request they hold is theirs.
    assert await seen(school.mentor) == [call.id]
    assert await seen(school.activist) == [conference.id, call.id]
    assert await seen(school.coordinator) == [conference.id]
    assert await seen(school.outsider) == []
    assert await seen(school.outsider, school.luhansk) == [conference.id]
    assert await seen(school.activist, school.donetsk) == []
    assert await meetings.upcoming(
        school.session, school.actor(school.mentor), START + timedelta(hours=1)
    ) == [call]


def test_the_calendar_file_reads_back() -> None:
    meeting = Meeting(
        id=7,
        uid="0123abcd",
        title=TITLE,
        starts_at=START,
        duration_minutes=90,
        zone="Europe/Moscow",
        video_url="https://meet.jit.si/MentorDesk-abc",
        status=MeetingStatus.scheduled,
        revision=2,
    )
    data = meeting_ics(meeting, now=T0, alarm_before=timedelta(minutes=10))
    event = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    assert event.decoded("dtstart") == datetime(2027, 2, 27, 12, 0, tzinfo=UTC)
    assert b"DTSTART:20270227T120000Z" in data
    assert event.decoded("duration") == timedelta(minutes=90)
    assert str(event["url"]) == "https://meet.jit.si/MentorDesk-abc"
    assert str(event["uid"]) == "0123abcd@mentordesk"
    assert str(event["summary"]) == TITLE
    assert event.decoded("sequence") == 2
    alarm = event.walk("VALARM")[0]
    assert alarm.decoded("trigger") == -timedelta(minutes=10)
    meeting.status = MeetingStatus.cancelled
    cancelled = icalendar.Calendar.from_ical(meeting_ics(meeting, now=T0, alarm_before=None))
    assert str(cancelled["method"]) == "CANCEL"
    assert str(cancelled.walk("VEVENT")[0]["status"]) == "CANCELLED"


# --- reminders bookkeeping ---------------------------------------------------------------


async def _committed_conference(
    factory: async_sessionmaker[AsyncSession], start: datetime, now: datetime
) -> int:
    async with factory() as session:
        school = School(session)
        await school.setup()
        meeting = await school.conference(start=start, now=now)
        await session.commit()
        return meeting.id


async def test_a_reminder_is_taken_once_even_by_two_processes(
    factory: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    meeting_id = await _committed_conference(factory, START, T0)
    async with factory() as session:
        ids = [
            r.id
            for r in (
                await session.execute(
                    select(Reminder)
                    .where(Reminder.meeting_id == meeting_id)
                    .order_by(Reminder.due_at)
                )
            ).scalars()
        ]
    other_engine = create_engine(database_url)
    other = create_session_factory(other_engine)
    try:
        due = START - timedelta(minutes=5)

        async def take(sessions: async_sessionmaker[AsyncSession], reminder_id: int) -> bool:
            async with sessions.begin() as session:
                return await meetings.take_reminder(session, reminder_id, due)

        for reminder_id in ids:
            results = await asyncio.gather(*(take(s, reminder_id) for s in (factory, other) * 3))
            assert sorted(results) == [False] * 5 + [True]
    finally:
        await other_engine.dispose()


async def test_a_reminder_is_not_taken_early_nor_after_the_start(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    meeting_id = await _committed_conference(factory, START, T0)
    async with factory.begin() as session:
        reminders = list(
            (
                await session.execute(
                    select(Reminder)
                    .where(Reminder.meeting_id == meeting_id)
                    .order_by(Reminder.due_at)
                )
            ).scalars()
        )
        day_before, hour_before, _ten = reminders
        assert not await meetings.take_reminder(session, hour_before.id, day_before.due_at)
        assert not await meetings.take_reminder(session, day_before.id, START)
        assert await meetings.take_reminder(session, day_before.id, day_before.due_at)


def _runner(factory: async_sessionmaker[AsyncSession]) -> tuple[ReminderRunner, AsyncIOScheduler]:
    """A runner whose scheduler is never started: jobs are planned, and nothing is sent."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    settings = Settings(_env_file=None, bot_token="123456:unused")
    return ReminderRunner(scheduler, factory, _NoSender(), create_i18n(), settings), scheduler


class _NoSender:
    """Takes the rows a job writes and sends nothing (as a process that is not the sender)."""

    def holder(self) -> str | None:
        return None

    def wake(self) -> None:
        return None

    def adopt(self, rows: Sequence[Row]) -> None:
        return None


async def test_catch_up_sends_the_latest_missed_reminder_and_skips_the_rest(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    upcoming_id = await _committed_conference(factory, START, T0)
    begun_id = await _committed_conference(factory, T0 + timedelta(hours=30), T0)
    runner, scheduler = _runner(factory)
    # The bot was down from T0 until 30 minutes before START.
    now = START - timedelta(minutes=30)
    report = await runner.catch_up(now)
    async with factory() as session:
        rows = {
            (r.meeting_id, r.offset_seconds): r
            for r in (await session.execute(select(Reminder))).scalars()
        }
    # Upcoming meeting: 24 h skipped (superseded), 1 h goes out now, 10 min planned ahead.
    assert rows[upcoming_id, 86400].skipped
    assert rows[upcoming_id, 3600].sent_at is None
    assert rows[upcoming_id, 600].sent_at is None
    # Meeting that began meanwhile: every reminder skipped.
    assert all(rows[begun_id, s].skipped for s in (86400, 3600, 600))
    assert report.overdue == 1 and report.skipped == 4
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {job_id(rows[upcoming_id, 3600].id)}
    assert jobs[job_id(rows[upcoming_id, 3600].id)].trigger.run_date == now
    # The 10-minute reminder is 20 minutes away: beyond the horizon, the sweep plans it later.
    assert START - timedelta(minutes=10) - now > HORIZON
    later = START - timedelta(minutes=12)
    await runner.catch_up(later)
    assert job_id(rows[upcoming_id, 600].id) in {job.id for job in scheduler.get_jobs()}
    async with factory() as session:
        finished = await session.get(Meeting, begun_id)
        assert finished is not None and finished.status == MeetingStatus.done


async def test_rsvp_rows_disappear_with_their_meeting(school: School) -> None:
    meeting = await school.conference()
    await meetings.answer(school.session, meeting, school.activist, True, T0)
    await school.session.delete(meeting)
    await school.session.flush()
    assert await school.session.scalar(select(func.count()).select_from(Rsvp)) == 0
