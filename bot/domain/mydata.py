"""What the bot keeps about a person (``/mydata``), as plain values: their profile (names,
town and organisation), roles, consents, requests with texts and history, consultations and
answers to meetings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Booking,
    Consent,
    Meeting,
    Person,
    Profile,
    Programme,
    Rsvp,
    Ticket,
    TicketEvent,
    Topic,
)


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def kept_about(session: AsyncSession, person: Person) -> dict[str, Any]:
    programmes = {p.id: p.title for p in await session.scalars(select(Programme))}
    topics = {t.id: t.code for t in await session.scalars(select(Topic))}
    return {
        "person": {
            "telegram_id": person.telegram_id,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "username": person.username,
            "language": person.language or person.telegram_language,
            "timezone": person.timezone,
            "first_seen": _when(person.created_at),
            "last_seen": _when(person.last_seen_at),
            "erased_at": _when(person.erased_at),
        },
        "roles": [
            {
                "programme": programmes.get(role.programme_id),
                "role": role.kind.value,
                "active": role.active,
                "since": _when(role.granted_at),
            }
            for role in person.roles
        ],
        "profile": await _profile(session, person),
        "consents": [
            {
                "programme": programmes.get(consent.programme_id),
                "kind": consent.kind.value,
                "notice_version": consent.notice_version,
                "given": consent.given,
                "at": _when(consent.at),
            }
            for consent in await session.scalars(
                select(Consent).where(Consent.person_id == person.id).order_by(Consent.id)
            )
        ],
        "requests": await _requests(session, person, programmes, topics),
        "consultations": await _consultations(session, person),
        "meetings": await _meetings(session, person),
    }


async def _profile(session: AsyncSession, person: Person) -> dict[str, Any] | None:
    profile = await session.get(Profile, person.id)
    if profile is None:
        return None
    return {"town": profile.town, "organisation": profile.organisation}


async def _requests(
    session: AsyncSession, person: Person, programmes: dict[int, str], topics: dict[int, str]
) -> list[dict[str, Any]]:
    requests = await session.scalars(
        select(Ticket).where(Ticket.author_id == person.id).order_by(Ticket.id)
    )
    found = []
    for ticket in requests:
        events = await session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
        found.append(
            {
                "number": ticket.id,
                "programme": programmes.get(ticket.programme_id),
                "topic": topics.get(ticket.topic_id) if ticket.topic_id else None,
                "status": ticket.status.value,
                "created_at": _when(ticket.created_at),
                "closed_at": _when(ticket.closed_at or ticket.resolved_at),
                "text": ticket.text,
                "files": [{"kind": a.kind, "name": a.file_name} for a in ticket.attachments],
                "rating": ticket.rating,
                "rating_comment": ticket.rating_comment,
                "history": [
                    {"at": _when(e.created_at), "kind": e.kind.value, "text": e.text}
                    for e in events
                ],
            }
        )
    return found


async def _consultations(session: AsyncSession, person: Person) -> list[dict[str, Any]]:
    bookings = await session.scalars(
        select(Booking)
        .where(or_(Booking.activist_id == person.id, Booking.mentor_id == person.id))
        .order_by(Booking.starts_at)
    )
    return [
        {
            "request": booking.ticket_id,
            "as": "mentor" if booking.mentor_id == person.id else "activist",
            "starts_at": _when(booking.starts_at),
            "ends_at": _when(booking.ends_at),
            "status": booking.status.value,
        }
        for booking in bookings
    ]


async def _meetings(session: AsyncSession, person: Person) -> list[dict[str, Any]]:
    answers = await session.execute(
        select(Rsvp, Meeting)
        .join(Meeting, Meeting.id == Rsvp.meeting_id)
        .where(Rsvp.person_id == person.id)
        .order_by(Meeting.starts_at)
    )
    return [
        {
            "meeting": meeting.title,
            "starts_at": _when(meeting.starts_at),
            "coming": rsvp.coming,
            "answered_at": _when(rsvp.answered_at),
        }
        for rsvp, meeting in answers
    ]
