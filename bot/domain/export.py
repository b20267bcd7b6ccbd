"""``/export``: what an export holds, read in SQL: the period's requests with every field and
the size of their history, its meetings with their RSVPs, and its booked consultations with how
each went, with the meetings and consultations planned ahead; and the audit entry of each
export. The files are made in ``bot.views.export``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Result, RowMapping, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain import audit
from bot.domain.stats import (
    ConsultationState,
    Period,
    at_or_ahead,
    consultation_state,
    first_claim_at,
    first_claims,
    in_period,
    per_ticket,
    seconds_between,
)
from bot.domain.topics import topics_by_id
from models import (
    AuditAction,
    Booking,
    GroupChat,
    Meeting,
    Person,
    Profile,
    Programme,
    Rsvp,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketStatus,
    Topic,
)


@dataclass(frozen=True)
class PersonName:
    """A person as the export names them, read as plain columns (no ORM objects per row)."""

    first_name: str
    last_name: str | None
    username: str | None
    telegram_id: int

    @property
    def display_name(self) -> str:
        """The same name ``Person.display_name`` gives."""
        full = " ".join(part for part in (self.first_name, self.last_name) if part)
        return full or (f"@{self.username}" if self.username else str(self.telegram_id))


@dataclass(frozen=True)
class TicketRecord:
    """One request with everything the export shows about it; times are in UTC."""

    id: int
    programme: str
    group: str | None
    topic: Topic | None
    topic_confirmed: bool
    status: TicketStatus
    text: str
    author: PersonName
    mentor: PersonName | None
    created_at: datetime
    first_mentor_at: datetime | None
    claimed_at: datetime | None
    first_answer_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    to_claim: float | None  # seconds
    to_first_answer: float | None
    to_resolution: float | None
    rating: int | None
    rating_comment: str | None
    rated_at: datetime | None
    attachments: int
    events: int
    chat_telegram_id: int
    request_message_id: int
    claim_alerted_at: datetime | None
    answer_reminded_at: datetime | None
    triage: bool = False  # went to a general consultant first
    escalated_at: datetime | None = None  # when they passed it to a specialist


@dataclass(frozen=True)
class MeetingRecord:
    meeting: Meeting
    programme: str
    audience: list[str]  # group titles, or the person a ticket call is with
    host: Person | None
    coming: list[Person]
    not_coming: list[Person]


@dataclass(frozen=True)
class ConsultationRecord:
    """A booked consultation; times are in UTC."""

    meeting_id: int | None
    ticket_id: int
    programme: str
    topic: Topic | None
    mentor: PersonName
    activist: PersonName
    starts_at: datetime
    ends_at: datetime
    state: ConsultationState
    booked_at: datetime
    town: str | None = None  # the activist's, as their profile says


@dataclass(frozen=True)
class ExportData:
    period: Period
    tickets: list[TicketRecord]
    meetings: list[MeetingRecord]
    consultations: list[ConsultationRecord] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------------


def _seconds(value: object) -> float | None:
    return None if value is None else float(round(float(str(value))))


async def collect_export(
    session: AsyncSession, programme_ids: Sequence[int], period: Period, now: datetime
) -> ExportData:
    """The period's requests in one query of plain columns, its meetings, and its booked
    consultations (held or not as of ``now``)."""
    author, mentor = aliased(Person), aliased(Person)
    conditions = in_period(programme_ids, period)
    events = per_ticket(TicketEvent, func.count(TicketEvent.id), conditions)
    attachments = per_ticket(TicketAttachment, func.count(TicketAttachment.id), conditions)
    first = first_claims(conditions)
    claim = first_claim_at(first)
    columns = {
        "id": Ticket.id,
        "programme": Programme.title,
        "group": GroupChat.title,
        "topic_id": Ticket.topic_id,
        "topic_confirmed": Ticket.topic_confirmed,
        "status": Ticket.status,
        "text": Ticket.text,
        "author_first": author.first_name,
        "author_last": author.last_name,
        "author_username": author.username,
        "author_telegram_id": author.telegram_id,
        "mentor_first": mentor.first_name,
        "mentor_last": mentor.last_name,
        "mentor_username": mentor.username,
        "mentor_telegram_id": mentor.telegram_id,
        "created_at": Ticket.created_at,
        "first_mentor_at": claim,
        "claimed_at": Ticket.claimed_at,
        "first_answer_at": Ticket.first_answer_at,
        "resolved_at": Ticket.resolved_at,
        "closed_at": Ticket.closed_at,
        "to_claim": seconds_between(Ticket.created_at, claim),
        "to_first_answer": seconds_between(Ticket.created_at, Ticket.first_answer_at),
        "to_resolution": seconds_between(Ticket.created_at, Ticket.resolved_at),
        "rating": Ticket.rating,
        "rating_comment": Ticket.rating_comment,
        "rated_at": Ticket.rated_at,
        "attachments": func.coalesce(attachments.c.value, 0),
        "events": func.coalesce(events.c.value, 0),
        "chat_telegram_id": Ticket.chat_telegram_id,
        "request_message_id": Ticket.request_message_id,
        "claim_alerted_at": Ticket.claim_alerted_at,
        "answer_reminded_at": Ticket.answer_reminded_at,
        "triage": Ticket.triage,
        "escalated_at": Ticket.escalated_at,
    }
    result: Result[Any] = await session.execute(
        select(*(column.label(name) for name, column in columns.items()))
        .join(Programme, Programme.id == Ticket.programme_id)
        .join(author, author.id == Ticket.author_id)
        .outerjoin(mentor, mentor.id == Ticket.assignee_id)
        .outerjoin(GroupChat, GroupChat.id == Ticket.group_id)
        .outerjoin(first, first.c.ticket_id == Ticket.id)
        .outerjoin(events, events.c.ticket_id == Ticket.id)
        .outerjoin(attachments, attachments.c.ticket_id == Ticket.id)
        .where(*conditions)
        .order_by(Ticket.id)
    )
    topics = await topics_by_id(session, programme_ids)
    tickets = [_ticket_record(row, topics) for row in result.mappings()]
    return ExportData(
        period,
        tickets,
        await _meetings(session, programme_ids, period),
        await _consultations(session, programme_ids, period, now, topics),
    )


def _name(row: RowMapping, prefix: str) -> PersonName:
    return PersonName(
        row[f"{prefix}_first"],
        row[f"{prefix}_last"],
        row[f"{prefix}_username"],
        row[f"{prefix}_telegram_id"],
    )


async def _consultations(
    session: AsyncSession,
    programme_ids: Sequence[int],
    period: Period,
    now: datetime,
    topics: dict[int, Topic],
) -> list[ConsultationRecord]:
    """Consultations booked for moments of the period or ahead (as ``/stats`` counts them)."""
    mentor, activist = aliased(Person), aliased(Person)
    columns = {
        "meeting_id": Booking.meeting_id,
        "ticket_id": Booking.ticket_id,
        "programme": Programme.title,
        "topic_id": Ticket.topic_id,
        "starts_at": Booking.starts_at,
        "ends_at": Booking.ends_at,
        "status": Booking.status,
        "created_at": Booking.created_at,
        "town": Profile.town,
    }
    for prefix, person in (("mentor", mentor), ("activist", activist)):
        columns |= {
            f"{prefix}_first": person.first_name,
            f"{prefix}_last": person.last_name,
            f"{prefix}_username": person.username,
            f"{prefix}_telegram_id": person.telegram_id,
        }
    query = (
        select(*(column.label(name) for name, column in columns.items()))
        .join(Ticket, Ticket.id == Booking.ticket_id)
        .join(Programme, Programme.id == Ticket.programme_id)
        .join(mentor, mentor.id == Booking.mentor_id)
        .join(activist, activist.id == Booking.activist_id)
        .outerjoin(Profile, Profile.person_id == Booking.activist_id)
        .where(Ticket.programme_id.in_(programme_ids), *at_or_ahead(Booking.starts_at, period))
        .order_by(Booking.starts_at, Booking.id)
    )
    return [
        ConsultationRecord(
            meeting_id=row["meeting_id"],
            ticket_id=row["ticket_id"],
            programme=row["programme"],
            topic=topics.get(row["topic_id"] or 0),
            mentor=_name(row, "mentor"),
            activist=_name(row, "activist"),
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            state=consultation_state(row["status"], row["ends_at"], now),
            booked_at=row["created_at"],
            town=row["town"],
        )
        for row in (await session.execute(query)).mappings()
    ]


def _ticket_record(row: RowMapping, topics: dict[int, Topic]) -> TicketRecord:
    mentor = None
    if row["mentor_telegram_id"] is not None:
        mentor = PersonName(
            row["mentor_first"],
            row["mentor_last"],
            row["mentor_username"],
            row["mentor_telegram_id"],
        )
    return TicketRecord(
        id=row["id"],
        programme=row["programme"],
        group=row["group"],
        topic=topics.get(row["topic_id"] or 0),
        topic_confirmed=bool(row["topic_confirmed"]),
        status=TicketStatus(row["status"]),
        text=row["text"],
        author=PersonName(
            row["author_first"],
            row["author_last"],
            row["author_username"],
            row["author_telegram_id"],
        ),
        mentor=mentor,
        created_at=row["created_at"],
        first_mentor_at=row["first_mentor_at"],
        claimed_at=row["claimed_at"],
        first_answer_at=row["first_answer_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
        to_claim=_seconds(row["to_claim"]),
        to_first_answer=_seconds(row["to_first_answer"]),
        to_resolution=_seconds(row["to_resolution"]),
        rating=row["rating"],
        rating_comment=row["rating_comment"],
        rated_at=row["rated_at"],
        attachments=int(row["attachments"]),
        events=int(row["events"]),
        chat_telegram_id=row["chat_telegram_id"],
        request_message_id=row["request_message_id"],
        claim_alerted_at=row["claim_alerted_at"],
        answer_reminded_at=row["answer_reminded_at"],
        triage=bool(row["triage"]),
        escalated_at=row["escalated_at"],
    )


async def _meetings(
    session: AsyncSession, programme_ids: Sequence[int], period: Period
) -> list[MeetingRecord]:
    """The meetings of the period and those planned ahead of it (as ``/stats`` counts them)."""
    query = (
        select(Meeting, Programme.title)
        .join(Programme, Programme.id == Meeting.programme_id)
        .where(Meeting.programme_id.in_(programme_ids), *at_or_ahead(Meeting.starts_at, period))
        .order_by(Meeting.starts_at, Meeting.id)
    )
    rows = (await session.execute(query)).all()
    meeting_ids = [meeting.id for meeting, _title in rows]
    answers: dict[int, list[tuple[bool, Person]]] = {}
    for rsvp, person in await session.execute(
        select(Rsvp, Person)
        .join(Person, Person.id == Rsvp.person_id)
        .where(Rsvp.meeting_id.in_(meeting_ids))
        .order_by(Rsvp.answered_at, Person.id)
    ):
        answers.setdefault(rsvp.meeting_id, []).append((rsvp.coming, person))
    group_ids = {a.group_id for m, _t in rows for a in m.audience if a.group_id is not None}
    person_ids = {a.person_id for m, _t in rows for a in m.audience if a.person_id is not None}
    person_ids |= {m.created_by_id for m, _t in rows if m.created_by_id is not None}
    groups = {
        g.id: g.title
        for g in (
            await session.execute(select(GroupChat).where(GroupChat.id.in_(group_ids)))
        ).scalars()
    }
    people = {
        p.id: p
        for p in (await session.execute(select(Person).where(Person.id.in_(person_ids)))).scalars()
    }
    records = []
    for meeting, title in rows:
        audience = [
            groups.get(a.group_id, "?")
            if a.group_id is not None
            else people[a.person_id].display_name
            if a.person_id in people
            else "?"
            for a in meeting.audience
        ]
        said = answers.get(meeting.id, [])
        records.append(
            MeetingRecord(
                meeting=meeting,
                programme=title,
                audience=audience,
                host=people.get(meeting.created_by_id or 0),
                coming=[person for coming, person in said if coming],
                not_coming=[person for coming, person in said if not coming],
            )
        )
    return records


# --- the audit trail -------------------------------------------------------------------------


def record_export(
    session: AsyncSession,
    actor_id: int,
    programme_ids: Sequence[int],
    data: ExportData,
    file_names: Sequence[str],
    now: datetime,
) -> None:
    """One audit entry per programme exported, so each programme's trail shows it."""
    for programme_id in programme_ids:
        audit.record(
            session,
            AuditAction.exported,
            now,
            actor_id=actor_id,
            programme_id=programme_id,
            details={
                "period": data.period.token,
                "tickets": len(data.tickets),
                "meetings": len(data.meetings),
                "consultations": len(data.consultations),
                "files": list(file_names),
            },
        )
