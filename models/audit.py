"""The audit trail: role grants and removals, registrations, ticket steering, exports."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class AuditAction(enum.StrEnum):
    role_granted = "role_granted"  # an invitation redeemed, a mentor brought back
    role_removed = "role_removed"  # a mentor deactivated
    mentor_changed = "mentor_changed"  # a mentor's topics or capacity changed
    group_registered = "group_registered"
    ticket_reassigned = "ticket_reassigned"
    ticket_cancelled = "ticket_cancelled"
    exported = "exported"
    topics_changed = "topics_changed"  # a coordinator added, renamed, archived ... topics
    triage_changed = "triage_changed"  # a coordinator switched a programme's triage on or off
    replies_changed = "replies_changed"  # a coordinator made a programme's groups quiet or not
    register_viewed = "register_viewed"  # a coordinator read a programme's register (/people)
    privacy_changed = "privacy_changed"  # a coordinator set the operator, the notice, health topics
    person_erased = "person_erased"  # a person's data erased (/forget), or a request's (retention)


class AuditEntry(Base):
    """One action worth answering for later; rows are only ever added.

    References are kept loose (``SET NULL``) so the trail outlives what it mentions, and
    ``details`` keeps the names and values as they were at the time.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[AuditAction] = mapped_column(
        Enum(AuditAction, native_enum=False, length=32, validate_strings=True)
    )
    # Who did it; None for the bot itself.
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    programme_id: Mapped[int | None] = mapped_column(
        ForeignKey("programmes.id", ondelete="SET NULL"), index=True
    )
    # Whom it was done to: the person who got or lost a role, the new mentor of a ticket.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
