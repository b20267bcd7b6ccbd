"""«General, then specialist»: a programme's triage switch and passing a request on.

With triage on, a new request goes first to the programme's general consultants (mentors whose
role has no topic). The one who takes it answers it, or passes it to the specialists of a topic
with a note: the request is open again, with that topic, for them to claim.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import audit
from bot.domain.access import Actor
from bot.domain.errors import DomainError, InvalidInput, NotAllowed
from bot.domain.tickets import (
    RequestTooLong,
    WrongStatus,
    general_role,
    people_by_id,
    record,
)
from bot.domain.topic_learning import record_label
from models import (
    AuditAction,
    AuditEntry,
    Person,
    Programme,
    Ticket,
    TicketEventKind,
    TicketStatus,
    Topic,
)

MAX_NOTE = 1000


class NotGeneralConsultant(NotAllowed):
    """Only an active general consultant of the ticket's programme passes requests on."""


class NotYourTicket(NotAllowed):
    """The request is with someone else: only its consultant passes it on."""

    def __init__(self, ticket: Ticket, assignee: Person | None) -> None:
        super().__init__(f"#{ticket.id}")
        self.ticket = ticket
        self.assignee = assignee


class NotInTriage(DomainError):
    """The request is not with the general consultants (passed on already, or never was)."""

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"#{ticket.id}")
        self.ticket = ticket


class TopicArchived(InvalidInput):
    def __init__(self, topic: Topic) -> None:
        super().__init__(topic.code)
        self.topic = topic


class NotCoordinator(NotAllowed):
    """Only a coordinator of the programme switches its triage."""


def may_switch(actor: Actor, programme_id: int) -> bool:
    return actor.coordinates(programme_id)


async def set_triage(
    session: AsyncSession, programme: Programme, on: bool, actor: Actor, now: datetime
) -> bool:
    """Switch the programme's triage; True when it changed. Recorded in the audit trail."""
    if not may_switch(actor, programme.id):
        raise NotCoordinator("triage")
    if programme.triage == on:
        return False
    programme.triage = on
    audit.record(
        session,
        AuditAction.triage_changed,
        now,
        actor_id=actor.person.id,
        programme_id=programme.id,
        details={"triage": on},
    )
    await session.flush()
    return True


async def fallback_begins(session: AsyncSession, ticket: Ticket) -> bool:
    """The request went straight to specialists though its programme's triage is on (it has no
    general consultant), and the request before it did not: coordinators hear of it once per
    such stretch, not with every request."""
    if ticket.triage:
        return False
    previous = await session.scalar(
        select(Ticket)
        .where(Ticket.programme_id == ticket.programme_id, Ticket.id < ticket.id)
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    if previous is None or previous.triage:
        return True
    switched_on = await session.scalar(
        select(func.max(AuditEntry.created_at)).where(
            AuditEntry.action == AuditAction.triage_changed,
            AuditEntry.programme_id == ticket.programme_id,
        )
    )
    return switched_on is not None and previous.created_at < _utc(switched_on)


def _utc(moment: datetime) -> datetime:
    """``max()`` over a column comes back without the column's type (naive on SQLite)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def clean_note(text: str | None) -> str | None:
    """The note for the specialists: optional, at most ``MAX_NOTE`` characters."""
    cleaned = (text or "").strip()
    if len(cleaned) > MAX_NOTE:
        raise RequestTooLong(MAX_NOTE)
    return cleaned or None


async def check_escalation(session: AsyncSession, person: Person, ticket: Ticket) -> None:
    """Raise unless the person may pass this request on now: a general consultant of its
    programme, holding it, while it is in triage."""
    if general_role(person, ticket.programme_id) is None:
        raise NotGeneralConsultant("escalate")
    if ticket.status != TicketStatus.claimed:
        raise WrongStatus(ticket)
    if ticket.assignee_id != person.id:
        holders = await people_by_id(session, [ticket.assignee_id])
        raise NotYourTicket(ticket, holders.get(ticket.assignee_id or 0))
    if not ticket.in_triage:
        raise NotInTriage(ticket)


def check_topic(ticket: Ticket, topic: Topic) -> None:
    if topic.programme_id != ticket.programme_id:
        # Each programme has its own topics: another's is as good as none.
        raise InvalidInput("topic")
    if not topic.active:
        raise TopicArchived(topic)


async def escalate_ticket(
    session: AsyncSession,
    ticket: Ticket,
    person: Person,
    topic: Topic,
    note: str | None,
    now: datetime,
) -> None:
    """Pass the request to the specialists of ``topic``: it is open again, with that topic,
    and its history says who passed it on and why.

    One conditional UPDATE, as for a claim: should the ticket have changed hands or status
    meanwhile (a coordinator's reassignment, a resolution), nothing is changed.
    """
    await check_escalation(session, person, ticket)
    check_topic(ticket, topic)
    note = clean_note(note)
    result = await session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket.id,
            Ticket.status == TicketStatus.claimed,
            Ticket.assignee_id == person.id,
            Ticket.triage.is_(True),
            Ticket.escalated_at.is_(None),
        )
        .values(
            status=TicketStatus.open,
            assignee_id=None,
            topic_id=topic.id,
            topic_confirmed=True,
            escalated_at=now,
            # A new unclaimed stretch begins: the SLA alert and the answer reminder start over.
            claim_alerted_at=None,
            answer_reminded_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(ticket)
    if getattr(result, "rowcount", 0) != 1:
        await check_escalation(session, person, ticket)
        raise NotInTriage(ticket)
    record(
        session,
        ticket,
        TicketEventKind.escalated,
        now,
        actor=person,
        text=note,
        details={"from": person.id, "topic": topic.code},
    )
    # The consultant's choice of topic teaches the programme's topic suggester, too.
    await record_label(session, ticket, topic, "escalated", now)
    await session.flush()
