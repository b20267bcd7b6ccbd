"""A programme with requests of known times, made through the bot's own services.

``Cohort`` files, claims, answers, resolves and rates requests at chosen moments, so the
tests of ``/stats``, ``/export`` and the digest can check every figure exactly. The expected
figures of the standard scenario are worked out next to it (``EXPECTED``).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import tickets
from bot.domain.access import Actor
from bot.domain.people import Identity, ensure_role, upsert_person
from bot.domain.programmes import find_or_create_programme, note_chat, register_chat
from bot.domain.topics import list_topics
from models import (
    GroupChat,
    Meeting,
    MeetingAudience,
    MeetingStatus,
    Person,
    Programme,
    RoleKind,
    Rsvp,
    Ticket,
    TicketStatus,
)

ZONE = "Europe/Moscow"
# Monday 1 February 2027, 09:00 in Moscow.
T0 = datetime(2027, 2, 1, 6, 0, tzinfo=UTC)
FIRST_DAY, LAST_DAY = date(2027, 2, 1), date(2027, 2, 14)
NOW = datetime(2027, 2, 20, 9, 0, tzinfo=UTC)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Expected:
    """The standard scenario's figures, worked out by hand."""

    total: int = 8
    people: int = 3
    by_status = {
        TicketStatus.resolved: 3,
        TicketStatus.closed: 1,
        TicketStatus.claimed: 1,
        TicketStatus.open: 2,
        TicketStatus.cancelled: 1,
    }
    by_topic = {"legal": 5, "grants": 2, "rehabilitation": 1}
    # Claims after 10, 20, 40, 60 and 30 minutes (ticket 7's first claim, not its reassignment).
    to_claim = (5, 30 * 60.0, 52 * 60.0)
    # First answers after 30, 60, 180, 120 and 240 minutes.
    to_first_answer = (5, 120 * 60.0, 216 * 60.0)
    # Resolutions after 2, 5, 24 and 6 hours.
    to_resolution = (4, 5.5 * 3600.0, 18.6 * 3600.0)
    ratings = (3, 11 / 3, 2)
    # Mentor: (in progress, resolved, median first answer in seconds).
    mentors = {
        "Сергей": (1, 2, 180 * 60.0),
        "Ирина": (0, 2, 45 * 60.0),
        "Дмитрий": (0, 0, None),
    }
    weeks = [date(2027, 2, 1), date(2027, 2, 8)]
    weekly = {"legal": [3, 2], "grants": [1, 1], "rehabilitation": [0, 1]}
    meetings_held = 1
    meetings_coming = 2


EXPECTED = Expected()


class Cohort:
    """Programmes, people and requests, written through the services with explicit times."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._ids = itertools.count(7_000_001)
        self._messages = itertools.count(1)
        self.tickets: dict[int, Ticket] = {}

    async def setup(self) -> None:
        self.programme, _ = await find_or_create_programme(
            self.session, "ШСП на Донбассе", T0 - 30 * DAY
        )
        self.other, _ = await find_or_create_programme(
            self.session, "Школа НКО Омска", T0 - 30 * DAY
        )
        self.topics = {t.code: t for t in await list_topics(self.session, self.programme.id)}
        self.admin = await self.person("Админ")
        self.group = await self.chat(-5001, "Луганская группа", self.programme)
        self.omsk = await self.chat(-5002, "Омская группа", self.other)
        self.coordinator = await self.person("Наталья", RoleKind.coordinator)
        self.irina = await self.mentor("Ирина", "legal")
        self.sergey = await self.mentor("Сергей", "legal", "grants")
        self.dmitry = await self.mentor("Дмитрий", "rehabilitation")
        self.olga = await self.person("Ольга", RoleKind.activist)
        self.petr = await self.person("Пётр", RoleKind.activist)
        self.anna = await self.person("Анна", RoleKind.activist)
        self.outsider = await self.person("Омич", RoleKind.activist, programme=self.other)
        self.omsk_mentor = await self.mentor("Омский наставник", "legal", programme=self.other)

    async def person(
        self, name: str, kind: RoleKind | None = None, *, programme: Programme | None = None
    ) -> Person:
        person = await upsert_person(
            self.session,
            Identity(telegram_id=next(self._ids), first_name=name),
            T0 - 30 * DAY,
            private=True,
        )
        if kind is not None:
            await ensure_role(
                self.session, person, (programme or self.programme).id, kind, now=T0 - 30 * DAY
            )
        await self.session.flush()
        return person

    async def mentor(self, name: str, *codes: str, programme: Programme | None = None) -> Person:
        person = await self.person(name, RoleKind.mentor, programme=programme)
        role = person.roles[-1]
        role.topics.extend(self.topics[code] for code in codes)
        role.capacity = 5
        await self.session.flush()
        return person

    async def chat(self, chat_id: int, title: str, programme: Programme) -> GroupChat:
        chat = await note_chat(self.session, chat_id, title, T0 - 30 * DAY)
        await register_chat(self.session, chat, programme, self.admin, T0 - 30 * DAY)
        return chat

    def actor(self, person: Person, *, admin: bool = False) -> Actor:
        return Actor.of(person, is_admin=admin, language="ru")

    # -- one request's life -------------------------------------------------------------------

    async def ask(
        self,
        author: Person,
        code: str | None,
        at: datetime,
        *,
        text: str = "Как зарегистрировать АНО?",
        programme: Programme | None = None,
    ) -> Ticket:
        group = self.group if (programme or self.programme) is self.programme else self.omsk
        ticket, _created = await tickets.open_ticket(
            self.session,
            programme_id=(programme or self.programme).id,
            author=author,
            text=text,
            chat_telegram_id=group.telegram_id,
            message_id=next(self._messages),
            group_id=group.id,
            topic=self.topics[code] if code else None,
            topic_confirmed=code is not None,
            now=at,
        )
        return ticket

    async def claim(self, ticket: Ticket, mentor: Person, at: datetime) -> None:
        await tickets.claim_ticket(self.session, ticket, mentor, at, capacity=5)

    async def answer(self, ticket: Ticket, mentor: Person, at: datetime) -> None:
        await tickets.add_mentor_message(self.session, ticket, mentor, "Ответ", [], at)

    async def resolve(self, ticket: Ticket, mentor: Person, at: datetime) -> None:
        await tickets.resolve_ticket(self.session, ticket, self.actor(mentor), at)

    async def rate(self, ticket: Ticket, author: Person, stars: int, at: datetime) -> None:
        await tickets.rate_ticket(self.session, ticket, author, stars, at)

    async def full(
        self,
        author: Person,
        code: str,
        mentor: Person,
        at: datetime,
        *,
        claim: timedelta,
        answer: timedelta | None = None,
        resolve: timedelta | None = None,
        stars: int | None = None,
    ) -> Ticket:
        ticket = await self.ask(author, code, at)
        await self.claim(ticket, mentor, at + claim)
        if answer is not None:
            await self.answer(ticket, mentor, at + answer)
        if resolve is not None:
            await self.resolve(ticket, mentor, at + resolve)
        if stars is not None:
            await self.rate(ticket, author, stars, at + (resolve or claim) + HOUR)
        return ticket

    # -- the standard scenario ----------------------------------------------------------------

    async def scenario(self) -> None:
        """Eight requests in the programme between 1 and 14 February 2027, and noise around."""
        t = self.tickets
        t[1] = await self.full(
            self.olga, "legal", self.irina, T0,
            claim=10 * MINUTE, answer=30 * MINUTE, resolve=2 * HOUR, stars=5,
        )  # fmt: skip
        t[2] = await self.full(
            self.olga, "legal", self.irina, T0 + DAY,
            claim=20 * MINUTE, answer=HOUR, resolve=5 * HOUR, stars=4,
        )  # fmt: skip
        t[3] = await self.full(
            self.petr, "grants", self.sergey, T0 + 2 * DAY,
            claim=40 * MINUTE, answer=3 * HOUR, resolve=DAY, stars=2,
        )  # fmt: skip
        # Taken by Irina, then given to Sergey by the coordinator; Sergey answers and resolves.
        t[7] = await self.ask(self.olga, "legal", T0 + 3 * DAY)
        await self.claim(t[7], self.irina, T0 + 3 * DAY + 30 * MINUTE)
        await tickets.reassign_ticket(
            self.session, t[7], self.sergey, self.actor(self.coordinator), T0 + 3 * DAY + 2 * HOUR
        )
        await self.answer(t[7], self.sergey, T0 + 3 * DAY + 4 * HOUR)
        await self.resolve(t[7], self.sergey, T0 + 3 * DAY + 6 * HOUR)
        t[7].status = TicketStatus.closed
        t[7].closed_at = T0 + 7 * DAY
        # Second week.
        t[4] = await self.full(
            self.anna, "grants", self.sergey, T0 + 8 * DAY, claim=HOUR, answer=2 * HOUR
        )
        t[5] = await self.ask(self.anna, "legal", T0 + 9 * DAY)
        t[6] = await self.ask(self.petr, "rehabilitation", T0 + 10 * DAY)
        await tickets.cancel_ticket(
            self.session, t[6], self.actor(self.coordinator), T0 + 10 * DAY + HOUR
        )
        # The last minute of 14 February in Moscow is in; the first of the 15th is out.
        t[8] = await self.ask(self.olga, "legal", datetime(2027, 2, 14, 20, 59, tzinfo=UTC))
        await self.ask(self.olga, "legal", datetime(2027, 2, 14, 21, 0, tzinfo=UTC))
        await self.ask(self.petr, "grants", T0 - 12 * DAY)
        # Another programme's requests in the same days never count.
        other = await self.ask(self.outsider, "legal", T0 + DAY, programme=self.other)
        await self.claim(other, self.omsk_mentor, T0 + DAY + 5 * MINUTE)
        await self.ask(self.outsider, "legal", T0 + 2 * DAY, programme=self.other)
        await self.meetings()
        await self.session.flush()

    async def meeting(
        self, programme: Programme, starts_at: datetime, status: MeetingStatus
    ) -> Meeting:
        meeting = Meeting(
            uid=uuid.uuid4().hex,
            programme_id=programme.id,
            title="Видеоконференция с координаторами",
            starts_at=starts_at,
            duration_minutes=60,
            zone=ZONE,
            video_url="https://meet.jit.si/MentorDesk-test",
            status=status,
            created_by_id=self.coordinator.id,
            created_at=T0 - DAY,
            revision=0,
            audience=[MeetingAudience(group_id=self.group.id)],
        )
        self.session.add(meeting)
        await self.session.flush()
        return meeting

    async def meetings(self) -> None:
        held = await self.meeting(self.programme, T0 + 5 * DAY, MeetingStatus.done)
        for person, coming in ((self.olga, True), (self.petr, True), (self.anna, False)):
            self.session.add(
                Rsvp(meeting_id=held.id, person_id=person.id, coming=coming, answered_at=T0)
            )
        cancelled = await self.meeting(self.programme, T0 + 6 * DAY, MeetingStatus.cancelled)
        self.session.add(
            Rsvp(meeting_id=cancelled.id, person_id=self.olga.id, coming=True, answered_at=T0)
        )
        await self.meeting(self.other, T0 + 5 * DAY, MeetingStatus.done)
        await self.session.flush()
