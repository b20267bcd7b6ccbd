"""Ticket, matching and SLA services on a real migrated database (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory, upgrade
from bot.delivery.outbox import Outbox
from bot.domain import matching, tickets
from bot.domain.access import Actor
from bot.domain.errors import NotAllowed
from bot.domain.people import Identity, ensure_role, find_person_in_group, upsert_person
from bot.domain.programmes import find_or_create_programme, note_chat, register_chat
from bot.domain.topics import list_topics
from models import (
    OutboxMessage,
    OutboxStatus,
    Person,
    Programme,
    Role,
    RoleKind,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    Topic,
    role_topics,
)

T0 = datetime(2027, 2, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


class Place:
    """A programme with people in it, made through the same services the bot uses."""

    def __init__(self, session: AsyncSession, programme: Programme, topics: list[Topic]) -> None:
        self.session = session
        self.programme = programme
        self.topics = {topic.code: topic for topic in topics}
        self._next_id = 1000

    async def person(
        self, name: str, kind: RoleKind, *codes: str, capacity: int | None = None
    ) -> Person:
        self._next_id += 1
        person = await upsert_person(
            self.session, Identity(telegram_id=self._next_id, first_name=name), T0, private=True
        )
        role = await ensure_role(self.session, person, self.programme.id, kind, now=T0)
        role.topics = [self.topics[code] for code in codes]
        role.capacity = capacity
        await self.session.flush()
        return person

    def actor(self, person: Person) -> Actor:
        return Actor.of(person, is_admin=False, language="ru")

    async def ticket(
        self, author: Person, text: str, code: str = "legal", message_id: int = 1
    ) -> Ticket:
        ticket, created = await tickets.open_ticket(
            self.session,
            programme_id=self.programme.id,
            author=author,
            text=text,
            chat_telegram_id=-100500,
            message_id=message_id,
            group_id=None,
            topic=self.topics[code],
            topic_confirmed=True,
            now=T0,
        )
        assert created
        return ticket


@pytest.fixture
async def place(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Place]:
    async with factory() as session:
        programme, _ = await find_or_create_programme(session, "ШСП на Донбассе", T0)
        yield Place(session, programme, await list_topics(session, programme.id))
        await session.rollback()


async def _events(session: AsyncSession, ticket: Ticket) -> list[TicketEventKind]:
    rows = await session.execute(
        select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return list(rows.scalars())


async def test_the_same_message_makes_one_ticket(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    first = await place.ticket(olga, "Как зарегистрировать АНО?")
    again, created = await tickets.open_ticket(
        place.session,
        programme_id=place.programme.id,
        author=olga,
        text="Как зарегистрировать АНО?",
        chat_telegram_id=-100500,
        message_id=1,
        group_id=None,
        topic=None,
        topic_confirmed=False,
        now=T0,
    )
    assert (again.id, created) == (first.id, False)
    assert (await place.session.execute(select(Ticket))).scalars().all() == [first]
    assert await _events(place.session, first) == [
        TicketEventKind.created,
        TicketEventKind.topic_set,
    ]


@pytest.mark.parametrize("text", ["", "   \n\t", None, "\x00", " \x00\n"])
def test_empty_requests_are_refused(text: str | None) -> None:
    with pytest.raises(tickets.RequestEmpty):
        tickets.clean_text(text)


def test_nul_characters_are_dropped_from_a_request() -> None:
    """PostgreSQL refuses NUL in text: the request is kept without it, on either database."""
    assert tickets.clean_text("Образец\x00 устава АНО\x00") == "Образец устава АНО"


def test_long_requests_are_refused_and_the_limit_is_named() -> None:
    assert tickets.clean_text("а" * tickets.MAX_REQUEST) == "а" * tickets.MAX_REQUEST
    with pytest.raises(tickets.RequestTooLong) as refused:
        tickets.clean_text("а" * (tickets.MAX_REQUEST + 1))
    assert refused.value.limit == tickets.MAX_REQUEST


async def test_candidates_are_mentors_of_the_topic_least_loaded_first(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    irina = await place.person("Ирина", RoleKind.mentor, "legal", "grants")
    await place.person("Сергей", RoleKind.mentor, "legal")
    await place.person("Анна", RoleKind.mentor, "grants")
    full = await place.person("Пётр", RoleKind.mentor, "legal", capacity=1)

    busy = await place.ticket(olga, "Договор аренды", message_id=10)
    await tickets.claim_ticket(place.session, busy, irina, T0, capacity=5)
    held = await place.ticket(olga, "Устав", message_id=11)
    await tickets.claim_ticket(place.session, held, full, T0, capacity=5)

    ticket = await place.ticket(olga, "Как зарегистрировать АНО?", message_id=12)
    found = await matching.candidates_for(place.session, ticket, capacity=5)
    # Sergey has no open tickets, Irina has one, Pyotr is at his capacity of one.
    assert [c.person.first_name for c in found] == ["Сергей", "Ирина"]
    assert [c.open_tickets for c in found] == [0, 1]

    grants = await place.ticket(olga, "Президентский грант", "grants", message_id=13)
    names = [
        c.person.first_name
        for c in await matching.candidates_for(place.session, grants, capacity=5)
    ]
    # Anna has never claimed anything: she goes before Irina, who has claimed and holds one.
    assert names == ["Анна", "Ирина"]


async def test_candidates_come_with_the_messages_waiting_for_their_chat(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    irina = await place.person("Ирина", RoleKind.mentor, "legal")
    sergey = await place.person("Сергей", RoleKind.mentor, "legal")
    outbox = Outbox(place.session)
    for n in range(3):
        await outbox.send(irina.telegram_id, f"Карточка {n}", purpose="test")
    sent = await outbox.send(irina.telegram_id, "Уже отправлена", purpose="test")
    await outbox.send(olga.telegram_id, "Ответ автору", purpose="test")
    row = await place.session.get(OutboxMessage, sent.outbox_id)
    assert row is not None
    row.status = OutboxStatus.sent
    await place.session.flush()

    ticket = await place.ticket(olga, "Как зарегистрировать АНО?")
    found = await matching.candidates_for(place.session, ticket, capacity=5)
    # Only what is still to be sent counts, and only the mentor's own chat.
    assert {c.person.first_name: c.waiting for c in found} == {"Ирина": 3, "Сергей": 0}
    assert {c.person.telegram_id for c in found} == {irina.telegram_id, sergey.telegram_id}


async def test_a_person_and_their_group_are_read_in_one_go(place: Place) -> None:
    session = place.session
    coordinator = await place.person("Координатор", RoleKind.coordinator)
    mentor = await place.person("Ирина", RoleKind.mentor, "legal", "grants")
    registered = await note_chat(session, -1001, "Группа", T0)
    await register_chat(session, registered, place.programme, coordinator, T0)
    unregistered = await note_chat(session, -1002, "Чужая группа", T0)
    await session.flush()
    session.expunge_all()  # read from the database, not from the session's memory

    found, group, programme = await find_person_in_group(session, mentor.telegram_id, -1001)
    assert found is not None and found.id == mentor.id
    assert [sorted(t.code for t in role.topics) for role in found.roles] == [["grants", "legal"]]
    assert group is not None and group.id == registered.id
    assert programme is not None and programme.id == place.programme.id

    found, group, programme = await find_person_in_group(session, mentor.telegram_id, -1002)
    assert found is not None and group is not None and group.id == unregistered.id
    assert programme is None

    assert await find_person_in_group(session, 999_999, -1003) == (None, None, None)
    found, group, programme = await find_person_in_group(session, 999_999, -1001)
    assert found is None and group is not None and programme is not None


async def test_claim_checks_topic_capacity_and_status(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    lawyer = await place.person("Ирина", RoleKind.mentor, "legal", capacity=1)
    grants = await place.person("Анна", RoleKind.mentor, "grants")
    ticket = await place.ticket(olga, "Как зарегистрировать АНО?")

    with pytest.raises(tickets.NotMentorOfTopic):
        await tickets.claim_ticket(place.session, ticket, grants, T0, capacity=5)
    with pytest.raises(tickets.NotMentorOfTopic):
        await tickets.claim_ticket(place.session, ticket, olga, T0, capacity=5)

    await tickets.claim_ticket(place.session, ticket, lawyer, T0, capacity=5)
    assert (ticket.status, ticket.assignee_id, ticket.claimed_at) == (
        TicketStatus.claimed,
        lawyer.id,
        T0,
    )
    second = await place.person("Сергей", RoleKind.mentor, "legal")
    with pytest.raises(tickets.AlreadyTaken) as taken:
        await tickets.claim_ticket(place.session, ticket, second, T0, capacity=5)
    assert taken.value.assignee is not None and taken.value.assignee.id == lawyer.id

    other = await place.ticket(olga, "Устав АНО", message_id=2)
    with pytest.raises(tickets.OverCapacity) as over:
        await tickets.claim_ticket(place.session, other, lawyer, T0, capacity=5)
    assert (over.value.open_tickets, over.value.capacity) == (1, 1)


async def test_conversation_resolution_rating_and_reopening(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    lawyer = await place.person("Ирина", RoleKind.mentor, "legal")
    stranger = await place.person("Пётр", RoleKind.activist)
    ticket = await place.ticket(olga, "Как зарегистрировать АНО?")
    await tickets.claim_ticket(place.session, ticket, lawyer, T0, capacity=5)

    answered = T0 + timedelta(minutes=30)
    await tickets.add_mentor_message(place.session, ticket, lawyer, "Нужен устав", [], answered)
    await tickets.add_mentor_message(
        place.session, ticket, lawyer, "И решение", [], answered + timedelta(minutes=5)
    )
    assert ticket.first_answer_at == answered
    with pytest.raises(NotAllowed):
        await tickets.add_mentor_message(place.session, ticket, stranger, "Я тоже", [], answered)
    with pytest.raises(NotAllowed):
        await tickets.add_author_message(
            place.session, ticket, stranger, "А мне?", [], answered, reopen_window=timedelta(days=3)
        )

    with pytest.raises(NotAllowed):
        await tickets.resolve_ticket(place.session, ticket, place.actor(stranger), answered)
    resolved = T0 + timedelta(hours=1)
    await tickets.resolve_ticket(place.session, ticket, place.actor(lawyer), resolved)
    with pytest.raises(NotAllowed):
        await tickets.rate_ticket(place.session, ticket, stranger, 5, resolved)
    await tickets.rate_ticket(place.session, ticket, olga, 4, resolved)
    await tickets.comment_ticket(place.session, ticket, olga, "Спасибо, всё понятно", resolved)
    assert (ticket.rating, ticket.rating_comment) == (4, "Спасибо, всё понятно")

    reopened = await tickets.add_author_message(
        place.session,
        ticket,
        olga,
        "А если учредитель один?",
        [],
        resolved + timedelta(days=1),
        reopen_window=timedelta(days=3),
    )
    assert reopened and ticket.status == TicketStatus.claimed
    await tickets.resolve_ticket(
        place.session, ticket, place.actor(lawyer), resolved + timedelta(days=2)
    )
    with pytest.raises(tickets.ReopenWindowPassed):
        await tickets.add_author_message(
            place.session,
            ticket,
            olga,
            "Ещё вопрос",
            [],
            resolved + timedelta(days=6),
            reopen_window=timedelta(days=3),
        )
    assert await _events(place.session, ticket) == [
        TicketEventKind.created,
        TicketEventKind.topic_set,
        TicketEventKind.claimed,
        TicketEventKind.mentor_message,
        TicketEventKind.mentor_message,
        TicketEventKind.resolved,
        TicketEventKind.rated,
        TicketEventKind.commented,
        TicketEventKind.reopened,
        TicketEventKind.author_message,
        TicketEventKind.resolved,
    ]

    closed = await tickets.close_resolved(
        place.session, resolved + timedelta(days=6), timedelta(days=3)
    )
    assert closed == 1
    assert str(ticket.status) == TicketStatus.closed.value


async def test_coordinator_reassigns_and_cancels(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    irina = await place.person("Ирина", RoleKind.mentor, "legal")
    sergey = await place.person("Сергей", RoleKind.mentor, "grants")
    coordinator = await place.person("Мария", RoleKind.coordinator)
    ticket = await place.ticket(olga, "Договор с администрацией")
    await tickets.claim_ticket(place.session, ticket, irina, T0, capacity=5)

    with pytest.raises(NotAllowed):
        await tickets.reassign_ticket(place.session, ticket, sergey, place.actor(irina), T0)
    previous = await tickets.reassign_ticket(
        place.session, ticket, sergey, place.actor(coordinator), T0
    )
    assert previous is not None and previous.id == irina.id
    assert ticket.assignee_id == sergey.id
    with pytest.raises(tickets.NotMentorOfTopic):
        await tickets.reassign_ticket(place.session, ticket, olga, place.actor(coordinator), T0)

    with pytest.raises(NotAllowed):
        await tickets.cancel_ticket(place.session, ticket, place.actor(irina), T0)
    await tickets.cancel_ticket(place.session, ticket, place.actor(coordinator), T0)
    assert ticket.status == TicketStatus.cancelled
    with pytest.raises(tickets.WrongStatus):
        await tickets.resolve_ticket(place.session, ticket, place.actor(coordinator), T0)


async def test_who_may_view_a_ticket(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    irina = await place.person("Ирина", RoleKind.mentor, "legal")
    other_mentor = await place.person("Сергей", RoleKind.mentor, "legal")
    coordinator = await place.person("Мария", RoleKind.coordinator)
    stranger = await place.person("Пётр", RoleKind.activist)
    ticket = await place.ticket(olga, "Договор с администрацией")
    await tickets.claim_ticket(place.session, ticket, irina, T0, capacity=5)
    allowed = {
        person.first_name: tickets.may_view(place.actor(person), ticket)
        for person in (olga, irina, other_mentor, coordinator, stranger)
    }
    assert allowed == {
        "Ольга": True,
        "Ирина": True,
        "Сергей": False,
        "Мария": True,
        "Пётр": False,
    }


async def test_queue_shows_open_tickets_of_the_mentors_topics(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    irina = await place.person("Ирина", RoleKind.mentor, "legal", "rehabilitation")
    legal = await place.ticket(olga, "Устав", "legal", message_id=1)
    await place.ticket(olga, "Грант", "grants", message_id=2)
    rehab = await place.ticket(olga, "Пандус", "rehabilitation", message_id=3)
    taken = await place.ticket(olga, "Договор", "legal", message_id=4)
    await tickets.claim_ticket(place.session, taken, irina, T0, capacity=5)
    page = await tickets.queue_of(place.session, irina)
    assert [t.id for t in page.tickets] == [legal.id, rehab.id]
    assert await tickets.queue_of(place.session, olga) == tickets.Page([], 0, 0, 10)


async def test_unreachable_mentors_are_reported_once(place: Place) -> None:
    irina = await place.person("Ирина", RoleKind.mentor, "legal")
    pid = place.programme.id
    assert await matching.note_unreachable(place.session, irina.id, pid, T0)
    assert not await matching.note_unreachable(place.session, irina.id, pid, T0)
    await matching.note_reachable(place.session, irina.id)
    assert await matching.note_unreachable(place.session, irina.id, pid, T0)


async def test_a_mentors_waiting_messages_count_those_the_transaction_wrote(
    place: Place,
) -> None:
    """Matching reads how many messages wait for each mentor's chat (a busy one gets a summary
    card): those its own transaction wrote a moment ago included."""
    olga = await place.person("Ольга", RoleKind.activist)
    irina = await place.person("Ирина", RoleKind.mentor, "legal")
    await place.person("Сергей", RoleKind.mentor, "legal")
    first = await place.ticket(olga, "Вопрос 1", message_id=1)
    found = await matching.candidates_for(place.session, first, capacity=5)
    assert {c.person.first_name: c.waiting for c in found} == {"Ирина": 0, "Сергей": 0}
    outbox = Outbox(place.session)
    await outbox.send(irina.telegram_id, "Карточка 1", purpose="test")
    await outbox.send(irina.telegram_id, "Карточка 2", purpose="test")
    await outbox.send(olga.telegram_id, "Ответ автору", purpose="test")

    second = await place.ticket(olga, "Вопрос 2", message_id=2)
    found = await matching.candidates_for(place.session, second, capacity=5)
    assert {c.person.first_name: c.waiting for c in found} == {"Ирина": 2, "Сергей": 0}
    # What the next transaction finds is the same.
    await place.session.commit()
    found = await matching.candidates_for(place.session, second, capacity=5)
    assert {c.person.first_name: c.waiting for c in found} == {"Ирина": 2, "Сергей": 0}


async def test_what_the_transaction_changes_is_read_again(place: Place) -> None:
    olga = await place.person("Ольга", RoleKind.activist)
    irina = await place.person("Ирина", RoleKind.mentor, "legal")
    sergey = await place.person("Сергей", RoleKind.mentor, "grants")
    ticket = await place.ticket(olga, "Вопрос 1", message_id=1)
    found = await matching.candidates_for(place.session, ticket, capacity=5)
    assert [(c.person.first_name, c.open_tickets) for c in found] == [("Ирина", 0)]

    await tickets.claim_ticket(place.session, ticket, irina, T0, capacity=5)  # an update
    other = await place.ticket(olga, "Вопрос 2", message_id=2)
    found = await matching.candidates_for(place.session, other, capacity=5)
    assert [(c.person.first_name, c.open_tickets) for c in found] == [("Ирина", 1)]

    # Sergey takes the legal topic too: nothing but an insert into role_topics.
    role = await place.session.scalar(select(Role.id).where(Role.person_id == sergey.id))
    legal = place.topics["legal"].id
    await place.session.execute(insert(role_topics).values(role_id=role, topic_id=legal))
    found = await matching.candidates_for(place.session, other, capacity=5)
    assert [c.person.first_name for c in found] == ["Сергей", "Ирина"]
