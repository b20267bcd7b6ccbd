"""Writing and reading the audit trail; callers add entries inside their own transaction.

An entry is added to the session of the change it records, so it is committed or rolled back
with that change and the trail never claims something that did not happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditAction, AuditEntry, Person, Programme, Ticket

DEFAULT_SHOWN = 20
MAX_SHOWN = 100

_Row = TypeVar("_Row", Person, Programme, Ticket)


def record(
    session: AsyncSession,
    action: AuditAction,
    now: datetime,
    *,
    actor_id: int | None,
    programme_id: int | None = None,
    person_id: int | None = None,
    ticket_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        action=action,
        created_at=now,
        actor_id=actor_id,
        programme_id=programme_id,
        person_id=person_id,
        ticket_id=ticket_id,
        details=details or {},
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditLine:
    """An entry with the people and programme it names, loaded for display."""

    entry: AuditEntry
    actor: Person | None
    person: Person | None
    programme: Programme | None
    ticket: Ticket | None


def clamp(count: int | None) -> int:
    """How many entries to show for ``/audit N``: the default, at most ``MAX_SHOWN``."""
    if count is None or count < 1:
        return DEFAULT_SHOWN
    return min(count, MAX_SHOWN)


async def latest(
    session: AsyncSession, limit: int, *, programme_ids: Sequence[int] | None = None
) -> list[AuditLine]:
    """The newest entries first (of the given programmes only, when given)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if programme_ids is not None:
        query = query.where(AuditEntry.programme_id.in_(programme_ids))
    entries = list((await session.execute(query)).scalars())
    person_ids = {i for e in entries for i in (e.actor_id, e.person_id) if i is not None}
    programme_ids_seen = {e.programme_id for e in entries if e.programme_id is not None}
    ticket_ids = {e.ticket_id for e in entries if e.ticket_id is not None}
    people = await _by_id(session, Person, person_ids)
    programmes = await _by_id(session, Programme, programme_ids_seen)
    found_tickets = await _by_id(session, Ticket, ticket_ids)
    return [
        AuditLine(
            entry=entry,
            actor=people.get(entry.actor_id or 0),
            person=people.get(entry.person_id or 0),
            programme=programmes.get(entry.programme_id or 0),
            ticket=found_tickets.get(entry.ticket_id or 0),
        )
        for entry in entries
    ]


async def _by_id(session: AsyncSession, model: type[_Row], ids: set[int]) -> dict[int, _Row]:
    if not ids:
        return {}
    result = await session.execute(select(model).where(model.id.in_(ids)))
    return {row.id: row for row in result.scalars()}
