"""One-time invitation links that make a person a mentor or a coordinator of a programme."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import audit
from bot.domain.errors import DomainError
from bot.domain.people import ensure_role
from models import AuditAction, Invitation, Person, Programme, Role, RoleKind, Topic


class InvitationProblem(enum.StrEnum):
    unknown = "unknown"
    used = "used"
    expired = "expired"


class InvitationRefused(DomainError):
    def __init__(self, problem: InvitationProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class Redeemed:
    role: Role
    programme: Programme
    topics: list[Topic]


def new_token() -> str:
    """An unguessable token that fits Telegram's deep-link alphabet and 64-character limit."""
    return secrets.token_urlsafe(24)


async def create_invitation(
    session: AsyncSession,
    *,
    programme_id: int,
    kind: RoleKind,
    topics: Sequence[Topic],
    created_by: Person,
    now: datetime,
    ttl: timedelta,
) -> Invitation:
    invitation = Invitation(
        token=new_token(),
        programme_id=programme_id,
        kind=kind,
        topic_ids=[topic.id for topic in topics],
        created_by_id=created_by.id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invitation)
    await session.flush()
    return invitation


async def redeem_invitation(
    session: AsyncSession, token: str, person: Person, now: datetime, *, capacity: int
) -> Redeemed:
    """Use the invitation once and grant its role; raises ``InvitationRefused`` otherwise.

    The use is one conditional UPDATE, so two people opening the same link at once cannot
    both get the role.
    """
    claimed = await session.execute(
        update(Invitation)
        .where(
            Invitation.token == token,
            Invitation.used_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(used_at=now, used_by_id=person.id)
        .returning(Invitation.id)
    )
    invitation_id = claimed.scalar_one_or_none()
    if invitation_id is None:
        existing = (
            await session.execute(select(Invitation).where(Invitation.token == token))
        ).scalar_one_or_none()
        if existing is None:
            raise InvitationRefused(InvitationProblem.unknown)
        if existing.used_at is not None:
            raise InvitationRefused(InvitationProblem.used)
        raise InvitationRefused(InvitationProblem.expired)

    invitation = await session.get_one(Invitation, invitation_id)
    programme = await session.get_one(Programme, invitation.programme_id)
    role = await ensure_role(
        session,
        person,
        invitation.programme_id,
        invitation.kind,
        granted_by_id=invitation.created_by_id,
        now=now,
    )
    topics: list[Topic] = []
    if invitation.kind == RoleKind.mentor:
        if invitation.topic_ids:
            result = await session.execute(
                select(Topic)
                .where(
                    Topic.id.in_(invitation.topic_ids),
                    Topic.programme_id == invitation.programme_id,
                    Topic.active.is_(True),
                )
                .order_by(Topic.position)
            )
            topics = list(result.scalars())
        if not invitation.topic_ids:
            # An invitation without topics makes a general consultant: a mentor without one.
            role.topics.clear()
        for topic in topics:
            if topic not in role.topics:
                role.topics.append(topic)
        if role.capacity is None:
            role.capacity = capacity
    audit.record(
        session,
        AuditAction.role_granted,
        now,
        actor_id=invitation.created_by_id,
        programme_id=invitation.programme_id,
        person_id=person.id,
        details={
            "role": invitation.kind.value,
            "topics": [topic.code for topic in role.topics],
            "invitation": invitation.id,
        },
    )
    await session.flush()
    return Redeemed(role=role, programme=programme, topics=list(role.topics) or topics)
