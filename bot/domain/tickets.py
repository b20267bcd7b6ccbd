"""Consultation tickets: filing, claiming, the conversation, resolution, rating and views.

Every change of a ticket appends a ``TicketEvent``; the ticket row holds the current state.
Permissions are checked here as well as in handlers, so no path can skip them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import connection_of
from bot.domain import audit
from bot.domain.access import Actor
from bot.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from bot.domain.matching import general_consultants
from bot.domain.topic_learning import record_label
from models import (
    ACTIVE_STATUSES,
    AuditAction,
    Person,
    Programme,
    Role,
    RoleKind,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketEventKind,
    TicketMessage,
    TicketMessageKind,
    TicketStatus,
    TicketTopic,
    Topic,
)

# A request must fit a mentor's card (Telegram's limit is 4096) with its header.
MAX_REQUEST = 3000
MAX_MESSAGE = 3500
MAX_COMMENT = 1000
RATINGS = range(1, 6)


class RequestEmpty(InvalidInput):
    """Nothing but whitespace (or nothing at all) after the command or mention."""


class RequestTooLong(InvalidInput):
    def __init__(self, limit: int) -> None:
        super().__init__(f"longer than {limit}")
        self.limit = limit


class TicketNotFound(NotFound):
    def __init__(self, number: int) -> None:
        super().__init__(f"#{number}")
        self.number = number


class WrongStatus(DomainError):
    """The ticket's status does not allow this step (e.g. resolving a cancelled ticket)."""

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(ticket.status.value)
        self.ticket = ticket


class TopicChosenInTriage(NotAllowed):
    """A general consultant passed the request on with its topic: only a coordinator changes
    that topic now (the author's topic buttons would send it elsewhere behind their back)."""

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"#{ticket.id}")
        self.ticket = ticket


class AlreadyTaken(DomainError):
    def __init__(self, ticket: Ticket, assignee: Person | None) -> None:
        super().__init__(f"#{ticket.id} taken")
        self.ticket = ticket
        self.assignee = assignee


class NotMentorOfTopic(NotAllowed):
    """The person is not an active mentor of the ticket's topic in its programme."""


class OverCapacity(NotAllowed):
    def __init__(self, open_tickets: int, capacity: int) -> None:
        super().__init__(f"{open_tickets}/{capacity}")
        self.open_tickets = open_tickets
        self.capacity = capacity


class TooManyRequests(NotAllowed):
    """The author has as many requests open as a person may, or filed as many within the
    last hour: the next one is not stored, and no mentor sees it."""

    def __init__(self, *, open_now: int, max_open: int, last_hour: int, per_hour: int) -> None:
        super().__init__(f"{open_now}/{max_open} open, {last_hour}/{per_hour} an hour")
        self.open_now, self.max_open = open_now, max_open
        self.last_hour, self.per_hour = last_hour, per_hour

    @property
    def too_many_open(self) -> bool:
        return self.open_now >= self.max_open


# How often a person over the limit is told so: once, not for every request of a burst.
CAP_NOTICE_EVERY = timedelta(hours=1)


async def over_the_cap(
    session: AsyncSession, author: Person, now: datetime, *, max_open: int, per_hour: int
) -> TooManyRequests | None:
    """Why the author may not file another request now, or None. One statement: their open
    requests and those of the last hour."""
    open_now, last_hour = (
        await (await connection_of(session)).execute(
            _ALLOWANCE, {"author": author.id, "since": now - timedelta(hours=1)}
        )
    ).one()
    if open_now < max_open and last_hour < per_hour:
        return None
    return TooManyRequests(
        open_now=open_now, max_open=max_open, last_hour=last_hour, per_hour=per_hour
    )


def tell_of_the_cap(author: Person, now: datetime) -> bool:
    """Whether the author is to hear that they are over the limit (once an hour at most), and
    noted as told."""
    told = author.capped_notice_at
    if told is not None and now - told < CAP_NOTICE_EVERY:
        return False
    author.capped_notice_at = now
    return True


class ReopenWindowPassed(DomainError):
    """A reply came after the window in which it would have reopened the ticket."""


@dataclass(frozen=True)
class FileRef:
    """A photo or document by its Telegram file id."""

    kind: str  # "photo" or "document"
    file_id: str
    file_name: str | None = None


def clean_text(text: str | None, limit: int = MAX_REQUEST) -> str:
    # A NUL character means nothing to a reader, and PostgreSQL refuses it in text.
    cleaned = (text or "").replace("\x00", "").strip()
    if not cleaned:
        raise RequestEmpty("empty")
    if len(cleaned) > limit:
        raise RequestTooLong(limit)
    return cleaned


def _message_body(text: str, files: Sequence[FileRef]) -> str:
    """A conversation message may be a bare photo or document; otherwise it needs text."""
    if files and not text.strip():
        return ""
    return clean_text(text, MAX_MESSAGE)


# --- reading -------------------------------------------------------------------------------


async def get_ticket(session: AsyncSession, number: int) -> Ticket:
    ticket = await session.get(Ticket, number) if 0 < number < 2**62 else None
    if ticket is None:
        raise TicketNotFound(number)
    return ticket


async def find_by_request(
    session: AsyncSession, chat_telegram_id: int, message_id: int
) -> Ticket | None:
    # Only the id first: every new request asks, and almost never finds one.
    found = await (await connection_of(session)).scalar(
        _FIND_BY_REQUEST, {"chat_telegram_id": chat_telegram_id, "message_id": message_id}
    )
    return None if found is None else await session.get(Ticket, found)


# Two counts, each read from its own index of the author's requests (status, time): neither
# reads the requests the author filed before that are closed and older than the hour.
_ALLOWANCE = select(
    select(func.count())
    .where(Ticket.author_id == bindparam("author"), Ticket.status.in_(ACTIVE_STATUSES))
    .scalar_subquery(),
    select(func.count())
    .where(Ticket.author_id == bindparam("author"), Ticket.created_at >= bindparam("since"))
    .scalar_subquery(),
)


async def unrated_since(session: AsyncSession, author_id: int, since: datetime) -> list[Ticket]:
    """The author's requests filed in a group and resolved since ``since``, not rated yet."""
    found = await session.scalars(
        select(Ticket)
        .where(
            Ticket.author_id == author_id,
            Ticket.status == TicketStatus.resolved,
            Ticket.rating.is_(None),
            Ticket.group_id.is_not(None),
            Ticket.resolved_at >= since,
        )
        .order_by(Ticket.id)
    )
    return list(found)


_FIND_BY_REQUEST = select(Ticket.id).where(
    Ticket.chat_telegram_id == bindparam("chat_telegram_id"),
    Ticket.request_message_id == bindparam("message_id"),
)


async def ticket_of_message(
    session: AsyncSession, chat_telegram_id: int, message_id: int
) -> tuple[Ticket, TicketMessage] | None:
    """The ticket a bot message belongs to, for routing replies to it."""
    result = await session.execute(
        select(Ticket, TicketMessage)
        .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
        .where(
            TicketMessage.chat_telegram_id == chat_telegram_id,
            TicketMessage.message_id == message_id,
        )
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def ticket_topic(session: AsyncSession, ticket_id: int, person_id: int) -> TicketTopic | None:
    """The topic of the person's private chat that holds the ticket, if one was opened."""
    return await session.scalar(
        select(TicketTopic).where(
            TicketTopic.ticket_id == ticket_id, TicketTopic.person_id == person_id
        )
    )


async def ticket_in_topic(
    session: AsyncSession, chat_telegram_id: int, thread_id: int
) -> tuple[Ticket, TicketTopic] | None:
    """The ticket a topic of a private chat holds, for routing what is written there."""
    result = await session.execute(
        select(Ticket, TicketTopic)
        .join(TicketTopic, TicketTopic.ticket_id == Ticket.id)
        .where(
            TicketTopic.chat_telegram_id == chat_telegram_id,
            TicketTopic.thread_id == thread_id,
        )
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def note_ticket_topic(
    session: AsyncSession,
    ticket: Ticket,
    person: Person,
    outbox_id: int | None,
    now: datetime,
) -> TicketTopic:
    """A topic is being opened for the ticket in the person's private chat (by ``outbox_id``;
    its thread id is noted once Telegram has opened it)."""
    topic = TicketTopic(
        ticket_id=ticket.id, person_id=person.id, chat_telegram_id=person.telegram_id,
        outbox_id=outbox_id, created_at=now,
    )  # fmt: skip
    session.add(topic)
    await session.flush()
    return topic


async def messages_of(
    session: AsyncSession, ticket_id: int, kind: TicketMessageKind
) -> list[TicketMessage]:
    result = await session.execute(
        select(TicketMessage)
        .where(TicketMessage.ticket_id == ticket_id, TicketMessage.kind == kind)
        .order_by(TicketMessage.id)
    )
    return list(result.scalars())


async def history(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    result = await session.execute(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    )
    return list(result.scalars())


async def people_by_id(session: AsyncSession, ids: Sequence[int | None]) -> dict[int, Person]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    result = await session.execute(select(Person).where(Person.id.in_(wanted)))
    return {person.id: person for person in result.scalars()}


def may_view(actor: Actor, ticket: Ticket) -> bool:
    """Its author, its assignee and the coordinators of its programme; nobody else."""
    return actor.person.id in (ticket.author_id, ticket.assignee_id) or actor.coordinates(
        ticket.programme_id
    )


async def may_follow(session: AsyncSession, actor: Actor, ticket: Ticket) -> bool:
    """Those who may view it, and the general consultant who passed it to a specialist: they
    may follow how it ends."""
    if may_view(actor, ticket):
        return True
    if ticket.escalated_at is None:
        return False
    passed_on = await session.scalar(
        select(func.count(TicketEvent.id)).where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.kind == TicketEventKind.escalated,
            TicketEvent.actor_id == actor.person.id,
        )
    )
    return bool(passed_on)


def request_programmes(actor: Actor) -> list[int]:
    """Programmes the person may file requests in from private: any where they hold a role."""
    return sorted({role.programme_id for role in actor.roles})


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


async def _page(session: AsyncSession, query: Any, page: int, per_page: int) -> Page:
    total = (
        await session.execute(select(func.count()).select_from(query.order_by(None).subquery()))
    ).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(page, 0), pages - 1)
    result = await session.execute(query.offset(page * per_page).limit(per_page))
    return Page(list(result.scalars()), total, page, per_page)


async def tickets_of_author(
    session: AsyncSession, author_id: int, *, page: int = 0, per_page: int = 10
) -> Page:
    query = select(Ticket).where(Ticket.author_id == author_id).order_by(Ticket.id.desc())
    return await _page(session, query, page, per_page)


async def list_tickets(
    session: AsyncSession,
    programme_ids: Sequence[int] | None,
    *,
    status: TicketStatus | None = None,
    topic_code: str | None = None,
    page: int = 0,
    per_page: int = 10,
) -> Page:
    """Tickets of the programmes (all when None), newest first; of one topic by its code,
    which names the topic in each programme that has it."""
    query = select(Ticket).order_by(Ticket.id.desc())
    if programme_ids is not None:
        query = query.where(Ticket.programme_id.in_(programme_ids))
    if status is not None:
        query = query.where(Ticket.status == status)
    if topic_code is not None:
        query = query.join(Topic, Topic.id == Ticket.topic_id).where(Topic.code == topic_code)
    return await _page(session, query, page, per_page)


def _mentor_topics(person: Person) -> list[tuple[int, list[int]]]:
    return [
        (role.programme_id, [topic.id for topic in role.topics])
        for role in person.roles
        if role.active and role.kind == RoleKind.mentor
    ]


async def queue_of(
    session: AsyncSession, mentor: Person, *, page: int = 0, per_page: int = 10
) -> Page:
    """Open tickets of the mentor's topics in the programmes they mentor, oldest first; for a
    general consultant, the programme's requests in triage."""
    in_triage = Ticket.triage.is_(True) & Ticket.escalated_at.is_(None)
    scopes = [
        (Ticket.programme_id == programme_id)
        & (Ticket.topic_id.in_(topic_ids) & ~in_triage if topic_ids else in_triage)
        for programme_id, topic_ids in _mentor_topics(mentor)
    ]
    query = select(Ticket).where(Ticket.status == TicketStatus.open).order_by(Ticket.id)
    query = query.where(or_(*scopes)) if scopes else query.where(Ticket.id.is_(None))
    return await _page(session, query, page, per_page)


async def open_load(
    session: AsyncSession, person_ids: Sequence[int], programme_id: int
) -> dict[int, int]:
    """How many claimed, unresolved tickets of the programme each person holds."""
    if not person_ids:
        return {}
    result = await session.execute(
        select(Ticket.assignee_id, func.count())
        .where(
            Ticket.assignee_id.in_(person_ids),
            Ticket.programme_id == programme_id,
            Ticket.status == TicketStatus.claimed,
        )
        .group_by(Ticket.assignee_id)
    )
    return {person_id: count for person_id, count in result if person_id is not None}


def general_role(person: Person, programme_id: int) -> Role | None:
    """The person's active mentor role in the programme if it has no topic: a general
    consultant's."""
    for role in person.roles:
        if (
            role.active
            and role.kind == RoleKind.mentor
            and role.programme_id == programme_id
            and not role.topics
        ):
            return role
    return None


def mentor_role(person: Person, ticket: Ticket) -> Role | None:
    """The person's active mentor role in the ticket's programme covering its topic (a general
    consultant's, while the ticket is in triage)."""
    if ticket.in_triage:
        return general_role(person, ticket.programme_id)
    for role in person.roles:
        if (
            role.active
            and role.kind == RoleKind.mentor
            and role.programme_id == ticket.programme_id
            and any(topic.id == ticket.topic_id for topic in role.topics)
        ):
            return role
    return None


# --- changing ------------------------------------------------------------------------------


def record(
    session: AsyncSession,
    ticket: Ticket,
    kind: TicketEventKind,
    now: datetime,
    *,
    actor: Person | None = None,
    text: str | None = None,
    details: dict[str, Any] | None = None,
) -> TicketEvent:
    event = TicketEvent(**_event_row(ticket, kind, now, actor=actor, text=text, details=details))
    session.add(event)
    return event


_EVENTS = cast(Table, TicketEvent.__table__)
_LINKS = cast(Table, TicketMessage.__table__)
_INSERT_EVENTS = insert(_EVENTS)
_INSERT_LINKS = insert(_LINKS)


def _event_row(
    ticket: Ticket,
    kind: TicketEventKind,
    now: datetime,
    *,
    actor: Person | None = None,
    text: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id,
        "kind": kind,
        "actor_id": actor.id if actor is not None else None,
        "created_at": now,
        "text": text,
        "details": details or {},
    }


async def attach(
    session: AsyncSession,
    ticket: Ticket,
    files: Sequence[FileRef],
    event: TicketEvent | None,
    now: datetime,
) -> None:
    """The files of a message, bound to the event it made."""
    if not files:
        return
    if event is not None:
        await session.flush()  # for its id
    for file in files:
        ticket.attachments.append(
            TicketAttachment(
                ticket_id=ticket.id,
                event_id=event.id if event is not None else None,
                kind=file.kind,
                file_id=file.file_id,
                file_name=file.file_name,
                created_at=now,
            )
        )


@dataclass(frozen=True)
class Link:
    """A message of the bot's bound to a ticket: by its Telegram id, or by the outbox row that
    sends it (the id is filled in once it is sent)."""

    kind: TicketMessageKind
    chat_telegram_id: int
    message_id: int | None = None
    outbox_id: int | None = None
    person_id: int | None = None


async def link_message(
    session: AsyncSession,
    ticket: Ticket,
    kind: TicketMessageKind,
    chat_telegram_id: int,
    now: datetime,
    *,
    message_id: int | None = None,
    outbox_id: int | None = None,
    person_id: int | None = None,
) -> None:
    """Bind a message of the bot's to the ticket."""
    link = Link(kind, chat_telegram_id, message_id, outbox_id, person_id)
    await link_messages(session, ticket, [link], now)


async def link_messages(
    session: AsyncSession, ticket: Ticket, links: Sequence[Link], now: datetime
) -> None:
    """Bind messages of the bot's to the ticket, in one statement (a new request has three):
    rows nothing needs the ids of."""
    if not links:
        return
    await (await connection_of(session)).execute(
        _INSERT_LINKS,
        [
            {
                "ticket_id": ticket.id,
                "kind": link.kind,
                "chat_telegram_id": link.chat_telegram_id,
                "message_id": link.message_id,
                "outbox_id": link.outbox_id,
                "person_id": link.person_id,
                "created_at": now,
            }
            for link in links
        ],
    )


async def triage_applies(session: AsyncSession, programme_id: int, author_id: int) -> bool:
    """A new request of the programme goes to general consultants first: its triage is on and
    it has one (other than the author). Without any, requests go straight to specialists."""
    programme = await session.get(Programme, programme_id)
    if programme is None or not programme.triage:
        return False
    return await general_consultants(session, programme_id, but=author_id) > 0


async def open_ticket(
    session: AsyncSession,
    *,
    programme_id: int,
    author: Person,
    text: str,
    chat_telegram_id: int,
    message_id: int,
    group_id: int | None,
    topic: Topic | None,
    topic_confirmed: bool,
    files: Sequence[FileRef] = (),
    now: datetime,
) -> tuple[Ticket, bool]:
    """Store a request as a ticket; for a message already stored, that ticket and False."""
    existing = await find_by_request(session, chat_telegram_id, message_id)
    if existing is not None:
        return existing, False
    ticket = Ticket(
        programme_id=programme_id,
        group_id=group_id,
        chat_telegram_id=chat_telegram_id,
        request_message_id=message_id,
        author_id=author.id,
        topic_id=topic.id if topic is not None else None,
        topic_confirmed=topic_confirmed,
        text=clean_text(text),
        status=TicketStatus.open,
        created_at=now,
        triage=await triage_applies(session, programme_id, author.id),
        attachments=[],
    )
    session.add(ticket)
    await session.flush()  # for its number
    events = []
    if files:  # bound to the request's first event: its id is needed
        created = record(session, ticket, TicketEventKind.created, now, actor=author,
                         text=ticket.text)  # fmt: skip
        await attach(session, ticket, files, created, now)
    else:
        events.append(
            _event_row(ticket, TicketEventKind.created, now, actor=author, text=ticket.text)
        )
    if topic is not None:
        details = {"topic": topic.code, "confirmed": topic_confirmed}
        actor = author if topic_confirmed else None
        events.append(
            _event_row(ticket, TicketEventKind.topic_set, now, actor=actor, details=details)
        )
    if events:  # nothing needs their ids: one statement
        await (await connection_of(session)).execute(_INSERT_EVENTS, events)
    return ticket, True


async def edit_request(session: AsyncSession, ticket: Ticket, text: str, now: datetime) -> bool:
    """The author edited the request message; False when the text did not really change."""
    cleaned = clean_text(text)
    if cleaned == ticket.text:
        return False
    ticket.text = cleaned
    record(session, ticket, TicketEventKind.edited, now, text=cleaned)
    await session.flush()
    return True


def topic_refusal(actor: Actor, ticket: Ticket) -> DomainError | None:
    """Why this person may not choose the request's topic, or None: its author may, until a
    general consultant passed it on with a topic of their choice; its coordinators always."""
    if actor.coordinates(ticket.programme_id):
        return None
    if actor.person.id != ticket.author_id:
        return NotAllowed("topic")
    if ticket.escalated_at is not None:
        return TopicChosenInTriage(ticket)
    return None


def may_set_topic(actor: Actor, ticket: Ticket) -> bool:
    return topic_refusal(actor, ticket) is None


async def set_topic(
    session: AsyncSession, ticket: Ticket, topic: Topic, actor: Actor, now: datetime
) -> bool:
    """Confirm or change the topic; True when it changed."""
    refused = topic_refusal(actor, ticket)
    if refused is not None:
        raise refused
    if topic.programme_id != ticket.programme_id or not topic.active:
        # Each programme has its own topics; an archived one is offered no more.
        raise InvalidInput("topic")
    if ticket.status not in ACTIVE_STATUSES:
        raise WrongStatus(ticket)
    changed = ticket.topic_id != topic.id
    if not changed and ticket.topic_confirmed:
        return False
    source = "confirmed" if not changed else "chosen" if ticket.topic_id is None else "corrected"
    ticket.topic_id = topic.id
    ticket.topic_confirmed = True
    record(
        session,
        ticket,
        TicketEventKind.topic_set,
        now,
        actor=actor.person,
        details={"topic": topic.code, "confirmed": True},
    )
    # Every confirmation or correction teaches the programme's topic suggester.
    await record_label(session, ticket, topic, source, now)
    await session.flush()
    return changed


async def _not_open(session: AsyncSession, ticket: Ticket) -> DomainError:
    """Why a ticket cannot be claimed: somebody has it, or it is no longer open at all."""
    if ticket.status == TicketStatus.claimed:
        holders = await people_by_id(session, [ticket.assignee_id])
        return AlreadyTaken(ticket, holders.get(ticket.assignee_id or 0))
    return WrongStatus(ticket)


async def claim_ticket(
    session: AsyncSession, ticket: Ticket, mentor: Person, now: datetime, *, capacity: int
) -> Ticket:
    """Give the ticket to the mentor if it is still open: exactly one of many claims wins.

    The claim is a single conditional UPDATE, so two presses at once (on two replicas, too)
    cannot both succeed: the database applies one and the other finds no open row.
    """
    role = mentor_role(mentor, ticket)
    if role is None:
        raise NotMentorOfTopic("topic")
    if ticket.status != TicketStatus.open:
        raise await _not_open(session, ticket)
    limit = role.capacity or capacity
    load = (await open_load(session, [mentor.id], ticket.programme_id)).get(mentor.id, 0)
    if load >= limit:
        raise OverCapacity(load, limit)
    result = await session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket.id,
            Ticket.status == TicketStatus.open,
            Ticket.assignee_id.is_(None),
        )
        .values(
            status=TicketStatus.claimed,
            assignee_id=mentor.id,
            claimed_at=now,
            answer_reminded_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(ticket)
    if getattr(result, "rowcount", 0) != 1:
        raise await _not_open(session, ticket)
    record(session, ticket, TicketEventKind.claimed, now, actor=mentor)
    await session.flush()
    return ticket


async def add_mentor_message(
    session: AsyncSession,
    ticket: Ticket,
    mentor: Person,
    text: str,
    files: Sequence[FileRef],
    now: datetime,
) -> TicketEvent:
    """Store the assignee's message; the first one sets the time of the first answer."""
    if ticket.assignee_id != mentor.id:
        raise NotAllowed("not the assignee")
    if ticket.status not in (TicketStatus.claimed, TicketStatus.resolved):
        raise WrongStatus(ticket)
    body = _message_body(text, files)
    if ticket.first_answer_at is None:
        ticket.first_answer_at = now
    event = record(session, ticket, TicketEventKind.mentor_message, now, actor=mentor, text=body)
    await attach(session, ticket, files, event, now)
    await session.flush()
    return event


async def add_author_message(
    session: AsyncSession,
    ticket: Ticket,
    author: Person,
    text: str,
    files: Sequence[FileRef],
    now: datetime,
    *,
    reopen_window: timedelta,
) -> bool:
    """Store the author's message; True when it reopened a resolved ticket."""
    if ticket.author_id != author.id:
        raise NotAllowed("not the author")
    reopened = False
    if ticket.status == TicketStatus.resolved:
        if ticket.resolved_at is None or now - ticket.resolved_at > reopen_window:
            raise ReopenWindowPassed("late")
        ticket.status = TicketStatus.claimed
        ticket.resolved_at = None
        ticket.answer_reminded_at = None
        record(session, ticket, TicketEventKind.reopened, now, actor=author)
        reopened = True
    elif ticket.status not in ACTIVE_STATUSES:
        raise WrongStatus(ticket)
    body = _message_body(text, files)
    event = record(session, ticket, TicketEventKind.author_message, now, actor=author, text=body)
    await attach(session, ticket, files, event, now)
    await session.flush()
    return reopened


def may_resolve(actor: Actor, ticket: Ticket) -> bool:
    return actor.person.id == ticket.assignee_id or actor.coordinates(ticket.programme_id)


async def resolve_ticket(
    session: AsyncSession, ticket: Ticket, actor: Actor, now: datetime
) -> None:
    if not may_resolve(actor, ticket):
        raise NotAllowed("resolve")
    if ticket.status != TicketStatus.claimed:
        raise WrongStatus(ticket)
    ticket.status = TicketStatus.resolved
    ticket.resolved_at = now
    record(session, ticket, TicketEventKind.resolved, now, actor=actor.person)
    await session.flush()


async def rate_ticket(
    session: AsyncSession, ticket: Ticket, author: Person, stars: int, now: datetime
) -> None:
    if ticket.author_id != author.id:
        raise NotAllowed("rate")
    if stars not in RATINGS:
        raise InvalidInput("rating")
    if ticket.status not in (TicketStatus.resolved, TicketStatus.closed):
        raise WrongStatus(ticket)
    ticket.rating = stars
    ticket.rated_at = now
    record(session, ticket, TicketEventKind.rated, now, actor=author, details={"rating": stars})
    await session.flush()


async def comment_ticket(
    session: AsyncSession, ticket: Ticket, author: Person, text: str, now: datetime
) -> None:
    """The author's comment on the answer, given with (or after) the rating."""
    if ticket.author_id != author.id:
        raise NotAllowed("comment")
    if ticket.status not in (TicketStatus.resolved, TicketStatus.closed):
        raise WrongStatus(ticket)
    ticket.rating_comment = clean_text(text, MAX_COMMENT)
    record(
        session, ticket, TicketEventKind.commented, now, actor=author, text=ticket.rating_comment
    )
    await session.flush()


async def reassign_ticket(
    session: AsyncSession, ticket: Ticket, mentor: Person, actor: Actor, now: datetime
) -> Person | None:
    """A coordinator gives the ticket to a mentor of the programme; returns the previous one."""
    if not actor.coordinates(ticket.programme_id):
        raise NotAllowed("assign")
    if ticket.status not in ACTIVE_STATUSES:
        raise WrongStatus(ticket)
    if not any(
        role.active and role.kind == RoleKind.mentor and role.programme_id == ticket.programme_id
        for role in mentor.roles
    ):
        raise NotMentorOfTopic("not a mentor of the programme")
    previous_id = ticket.assignee_id
    if previous_id == mentor.id:
        return None
    previous = (await people_by_id(session, [previous_id])).get(previous_id or 0)
    ticket.assignee_id = mentor.id
    ticket.status = TicketStatus.claimed
    ticket.claimed_at = now
    ticket.answer_reminded_at = None
    record(
        session,
        ticket,
        TicketEventKind.reassigned,
        now,
        actor=actor.person,
        details={"from": previous_id, "to": mentor.id},
    )
    audit.record(
        session,
        AuditAction.ticket_reassigned,
        now,
        actor_id=actor.person.id,
        programme_id=ticket.programme_id,
        person_id=mentor.id,
        ticket_id=ticket.id,
        details={"from": previous_id, "to": mentor.id},
    )
    await session.flush()
    return previous


def may_cancel(actor: Actor, ticket: Ticket) -> bool:
    return actor.person.id == ticket.author_id or actor.coordinates(ticket.programme_id)


async def cancel_ticket(session: AsyncSession, ticket: Ticket, actor: Actor, now: datetime) -> None:
    if not may_cancel(actor, ticket):
        raise NotAllowed("cancel")
    if ticket.status not in ACTIVE_STATUSES:
        raise WrongStatus(ticket)
    ticket.status = TicketStatus.cancelled
    ticket.closed_at = now
    record(session, ticket, TicketEventKind.cancelled, now, actor=actor.person)
    audit.record(
        session,
        AuditAction.ticket_cancelled,
        now,
        actor_id=actor.person.id,
        programme_id=ticket.programme_id,
        ticket_id=ticket.id,
        details={"by_author": actor.person.id == ticket.author_id},
    )
    await session.flush()


async def close_resolved(session: AsyncSession, now: datetime, reopen_window: timedelta) -> int:
    """Close resolved tickets whose reopen window has passed; returns how many."""
    result = await session.execute(
        select(Ticket).where(
            Ticket.status == TicketStatus.resolved, Ticket.resolved_at < now - reopen_window
        )
    )
    tickets = list(result.scalars())
    for ticket in tickets:
        ticket.status = TicketStatus.closed
        ticket.closed_at = now
        record(session, ticket, TicketEventKind.closed, now)
    await session.flush()
    return len(tickets)
