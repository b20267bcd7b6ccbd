"""Erasing what the bot keeps about a person (``/forget``) or about old requests (the retention)
while every figure stays: rows keep their ids, topic, times, status and rating value, and lose
their texts, names and files.

Each kind of content is erased by one step of ``REQUEST_STEPS`` (a request's own content) or
``PERSON_STEPS`` (the person's); a table that comes to hold personal content gets a step there.
Nothing here commits or talks to Telegram: the caller's transaction holds it all, and its news
edits the bot's messages that quoted the requests. On SQLite, ``secure_delete`` zeroes what is
overwritten, and the WAL is truncated after the commit (``bot.jobs.retention``).
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import audit, meetings
from bot.domain.access import Actor
from bot.domain.tickets import record
from models import (
    ACTIVE_STATUSES,
    AuditAction,
    HeldRequest,
    InboxUpdate,
    Meeting,
    OutboxMessage,
    OutboxStatus,
    Person,
    Profile,
    RoleKind,
    SummaryCard,
    SummaryCardEntry,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketMessage,
    TicketStatus,
    TopicExample,
)

# What an erased text or name becomes (the columns are NOT NULL).
ERASED = "—"
# A text is looked for in the bot's own messages by its start: cards quote long ones cut.
NEEDLE = 24
# Shorter texts ("ok", "да") would match messages of anyone.
SHORTEST_NEEDLE = 4
# Requests whose content has ended: the retention erases these once old enough.
ENDED = (TicketStatus.resolved, TicketStatus.closed, TicketStatus.cancelled)


@dataclass
class Erasure:
    """What one erasure covers and did; ``needles`` are the erased texts' starts and names, to
    find the bot's messages that quoted them."""

    now: datetime
    person: Person | None
    requests: list[Ticket]
    withdrawn: list[Ticket] = field(default_factory=list)  # were open or taken: now cancelled
    cancelled: list[Meeting] = field(default_factory=list)  # consultations booked ahead
    dropped_reminders: list[int] = field(default_factory=list)  # theirs
    needles: set[str] = field(default_factory=set)

    @property
    def request_ids(self) -> list[int]:
        return [ticket.id for ticket in self.requests]


Step = Callable[[AsyncSession, Erasure], Awaitable[None]]


# --- the requests' content -----------------------------------------------------------------------


async def _request_texts(session: AsyncSession, erasure: Erasure) -> None:
    for ticket in erasure.requests:
        ticket.text = ERASED
        if ticket.rating_comment is not None:
            ticket.rating_comment = ERASED
        ticket.erased_at = erasure.now


async def _attachments(session: AsyncSession, erasure: Erasure) -> None:
    for ticket in erasure.requests:
        ticket.attachments.clear()  # the rows go with the file ids Telegram keeps them by


async def _history(session: AsyncSession, erasure: Erasure) -> None:
    """Every message of the conversation, the edits of the request, a consultant's note."""
    await session.execute(
        update(TicketEvent)
        .where(TicketEvent.ticket_id.in_(erasure.request_ids), TicketEvent.text.is_not(None))
        .values(text=None)
        .execution_options(synchronize_session=False)
    )


async def _training_examples(session: AsyncSession, erasure: Erasure) -> None:
    await session.execute(
        delete(TopicExample)
        .where(TopicExample.ticket_id.in_(erasure.request_ids))
        .execution_options(synchronize_session=False)
    )


async def _quoting_messages(session: AsyncSession, erasure: Erasure) -> None:
    """The bot's messages kept in the outbox that quote the requests or name the person: the
    ones bound to the requests and those whose text holds an erased text or name. Sent ones
    lose their text (only their ids are needed still); unsent ones are not sent at all."""
    bound = set(
        await session.scalars(
            select(TicketMessage.outbox_id).where(
                TicketMessage.ticket_id.in_(erasure.request_ids),
                TicketMessage.outbox_id.is_not(None),
            )
        )
    )
    bound |= set(
        await session.scalars(
            select(SummaryCard.outbox_id)
            .join(SummaryCardEntry, SummaryCardEntry.summary_id == SummaryCard.id)
            .where(
                SummaryCardEntry.ticket_id.in_(erasure.request_ids),
                SummaryCard.outbox_id.is_not(None),
            )
        )
    )
    person = erasure.person
    rows = await session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.status,
            OutboxMessage.params,
            OutboxMessage.chat_id,
            OutboxMessage.person_id,
        )
    )
    finished: list[int] = []
    withdrawn: list[int] = []
    for row_id, status, params, chat_id, person_id in rows:
        about = row_id in bound or _mentions(params, erasure.needles)
        if person is not None:
            about = about or chat_id == person.telegram_id or person_id == person.id
        if not about:
            continue
        (withdrawn if status == OutboxStatus.pending else finished).append(row_id)
    for ids, values in (
        (finished, {"params": {}, "file": None}),
        (withdrawn, {"params": {}, "file": None, "status": OutboxStatus.dropped}),
    ):
        if ids:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(**values)
                .execution_options(synchronize_session=False)
            )


def _mentions(params: dict[str, Any] | None, needles: set[str]) -> bool:
    if not params or not needles:
        return False
    text = json.dumps(params, ensure_ascii=False)
    return any(needle in text for needle in needles)


REQUEST_STEPS: tuple[Step, ...] = (
    _request_texts,
    _attachments,
    _history,
    _training_examples,
    _quoting_messages,
)


# --- the person's own ----------------------------------------------------------------------------


async def _names(session: AsyncSession, erasure: Erasure) -> None:
    person = erasure.person
    assert person is not None
    person.first_name = ERASED
    person.last_name = None
    person.username = None
    person.erased_at = erasure.now


async def _words_elsewhere(session: AsyncSession, erasure: Erasure) -> None:
    """What they wrote on others' requests (as a mentor, a consultant's note)."""
    assert erasure.person is not None
    await session.execute(
        update(TicketEvent)
        .where(TicketEvent.actor_id == erasure.person.id, TicketEvent.text.is_not(None))
        .values(text=None)
        .execution_options(synchronize_session=False)
    )


async def _raw_updates(session: AsyncSession, erasure: Erasure) -> None:
    """Updates as Telegram sent them hold names and texts, and quote the messages replied to.

    A handled update is kept only so that a redelivery is recognised, by its id: all of them
    lose their payloads, and so does the person's own update being handled now."""
    assert erasure.person is not None
    await session.execute(
        update(InboxUpdate)
        .where(
            or_(
                InboxUpdate.handled_at.is_not(None),
                InboxUpdate.chat_key == erasure.person.telegram_id,
            ),
            func.length(InboxUpdate.payload) > 2,
        )
        .values(payload="{}")
        .execution_options(synchronize_session=False)
    )


async def _profile(session: AsyncSession, erasure: Erasure) -> None:
    """Their town and organisation (the register and the report count them as «not given»)."""
    assert erasure.person is not None
    await session.execute(delete(Profile).where(Profile.person_id == erasure.person.id))


async def _held_requests(session: AsyncSession, erasure: Erasure) -> None:
    """Requests waiting for their consent: the updates that hold them lose their payloads, and
    the waiting rows go. The consent records stay: they hold no content, only that the person
    answered which notice version when, which the operator must be able to show."""
    assert erasure.person is not None
    held = select(HeldRequest.update_id).where(
        HeldRequest.person_id == erasure.person.id, HeldRequest.update_id.is_not(None)
    )
    await session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.update_id.in_(held))
        .values(payload="{}")
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(HeldRequest).where(HeldRequest.person_id == erasure.person.id))


PERSON_STEPS: tuple[Step, ...] = (
    _names, _words_elsewhere, _held_requests, _raw_updates, _profile
)  # fmt: skip


# --- the services ------------------------------------------------------------------------------


def _needles_of(texts: Sequence[str | None]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        start = (text or "").strip()[:NEEDLE].strip()
        if len(start) >= SHORTEST_NEEDLE and start != ERASED:
            found |= {start, html.escape(start)}
    return found


async def _texts_of(session: AsyncSession, erasure: Erasure) -> list[str | None]:
    person_id = erasure.person.id if erasure.person is not None else None
    written = await session.scalars(
        select(TicketEvent.text).where(
            TicketEvent.text.is_not(None),
            or_(
                TicketEvent.ticket_id.in_(erasure.request_ids),
                and_(TicketEvent.actor_id.is_not(None), TicketEvent.actor_id == person_id),
            ),
        )
    )
    own = [t.text for t in erasure.requests] + [t.rating_comment for t in erasure.requests]
    return [*own, *written]


async def _erase(session: AsyncSession, erasure: Erasure, steps: Sequence[Step]) -> None:
    erasure.needles = _needles_of(await _texts_of(session, erasure))
    person = erasure.person
    if person is not None:
        names = [person.display_name, person.username and f"@{person.username}"]
        erasure.needles |= {n for n in names if n and len(n) >= SHORTEST_NEEDLE}
    for step in steps:
        await step(session, erasure)
    await session.flush()


async def forget_person(
    session: AsyncSession, person: Person, now: datetime, *, by: Person | None = None
) -> Erasure:
    """Erase the person's names and everything they wrote, in every table; their requests
    still open or taken are withdrawn (cancelled), and the consultations they booked or host
    ahead are cancelled. ``by`` is who asked, when not themselves.

    It runs in the caller's transaction (a handler's): a person's requests are few, so the
    erasure is done by the time the handler answers, well within the minute promised."""
    requests = list(
        await session.scalars(
            select(Ticket).where(Ticket.author_id == person.id).order_by(Ticket.id)
        )
    )
    erasure = Erasure(now=now, person=person, requests=requests)
    for ticket in requests:
        if ticket.status in ACTIVE_STATUSES:
            ticket.status = TicketStatus.cancelled
            ticket.closed_at = now
            record(session, ticket, TicketEventKind.cancelled, now, actor=by or person)
            erasure.withdrawn.append(ticket)
    erasure.cancelled, erasure.dropped_reminders = await meetings.cancel_bookings_of(
        session, person, now
    )
    await _erase(session, erasure, (*REQUEST_STEPS, *PERSON_STEPS))
    audit.record(
        session,
        AuditAction.person_erased,
        now,
        actor_id=by.id if by is not None else person.id,
        person_id=person.id,
        details={"asked_by": "self" if by is None else by.id, "requests": len(requests)},
    )
    return erasure


async def expired_requests(
    session: AsyncSession, now: datetime, retention: timedelta, limit: int = 200
) -> list[Ticket]:
    """Requests that ended longer than ``retention`` ago and still have their content."""
    ended_at = func.coalesce(Ticket.closed_at, Ticket.resolved_at)
    return list(
        await session.scalars(
            select(Ticket)
            .where(
                Ticket.status.in_(ENDED),
                Ticket.erased_at.is_(None),
                ended_at < now - retention,
            )
            .order_by(Ticket.id)
            .limit(limit)
        )
    )


async def erase_requests(session: AsyncSession, requests: list[Ticket], now: datetime) -> Erasure:
    """Erase the content of these requests (the retention): one audit entry each."""
    erasure = Erasure(now=now, person=None, requests=requests)
    await _erase(session, erasure, REQUEST_STEPS)
    for ticket in requests:
        audit.record(
            session,
            AuditAction.person_erased,
            now,
            actor_id=None,
            programme_id=ticket.programme_id,
            person_id=ticket.author_id,
            ticket_id=ticket.id,
            details={"asked_by": "retention"},
        )
    return erasure


# --- who may ask ------------------------------------------------------------------------------


async def find_person(session: AsyncSession, handle: str) -> Person | None:
    """A person by ``@username`` (any case) or Telegram id, as a coordinator names them."""
    handle = handle.strip()
    if handle.isdigit():
        return await session.scalar(select(Person).where(Person.telegram_id == int(handle)))
    username = handle.removeprefix("@").lower()
    return await session.scalar(
        select(Person).where(func.lower(Person.username) == username).limit(1)
    )


async def programmes_of(session: AsyncSession, person: Person) -> set[int]:
    """The programmes a person is known to: their roles and the requests they filed."""
    filed = await session.scalars(
        select(Ticket.programme_id).where(Ticket.author_id == person.id).distinct()
    )
    return {role.programme_id for role in person.roles} | set(filed)


async def may_forget(session: AsyncSession, actor: Actor, person: Person) -> bool:
    """A person themselves, an admin, or a coordinator of one of the person's programmes."""
    if actor.person.id == person.id or actor.is_admin:
        return True
    mine = set(actor.programmes(RoleKind.coordinator))
    return bool(mine & await programmes_of(session, person))


async def requests_of(session: AsyncSession, person: Person) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.author_id == person.id)
    )
    return int(count or 0)
