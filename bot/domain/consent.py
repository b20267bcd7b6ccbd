"""Consent to the processing of personal data: whether a person has it for a programme's
current notice, their answers, the requests that wait for one, and the notice's settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import audit
from bot.domain.access import Actor
from bot.domain.errors import InvalidInput, NotAllowed
from models import (
    AuditAction,
    Consent,
    ConsentKind,
    HeldRequest,
    InboxUpdate,
    Programme,
    Topic,
)

MAX_OPERATOR = 200
MAX_NOTICE = 3000  # with the bot's lines around it, the notice fits one Telegram message


async def has_consent(
    session: AsyncSession, person_id: int, programme: Programme, kind: ConsentKind
) -> bool:
    """Whether the person's latest answer of this kind consents to the programme's current
    notice: one given to an older version, or refused, does not count."""
    latest = await session.scalar(
        select(Consent)
        .where(
            Consent.person_id == person_id,
            Consent.programme_id == programme.id,
            Consent.kind == kind,
        )
        .order_by(Consent.id.desc())
        .limit(1)
    )
    return latest is not None and latest.given and latest.notice_version == programme.notice_version


async def answer(
    session: AsyncSession,
    person_id: int,
    programme: Programme,
    kind: ConsentKind,
    *,
    given: bool,
    now: datetime,
) -> Consent:
    """Record the person's answer to the programme's current notice."""
    consent = Consent(
        person_id=person_id, programme_id=programme.id, kind=kind,
        notice_version=programme.notice_version, given=given, at=now,
    )  # fmt: skip
    session.add(consent)
    await session.flush()
    return consent


async def hold(
    session: AsyncSession,
    person_id: int,
    programme_id: int,
    kind: ConsentKind,
    update_id: int | None,
    now: datetime,
) -> HeldRequest:
    """Note a request that waits for its author's answer; it keeps no text, only the update."""
    held = HeldRequest(
        person_id=person_id, programme_id=programme_id, kind=kind, update_id=update_id,
        created_at=now,
    )  # fmt: skip
    session.add(held)
    await session.flush()
    return held


async def held_request(session: AsyncSession, held_id: int) -> HeldRequest | None:
    return await session.get(HeldRequest, held_id)


async def release(session: AsyncSession, held: HeldRequest) -> None:
    """The request no longer waits (answered either way)."""
    await session.execute(delete(HeldRequest).where(HeldRequest.id == held.id))


# --- coordinators' settings ------------------------------------------------------------------


def _allowed(actor: Actor, programme: Programme) -> None:
    if not actor.coordinates(programme.id):
        raise NotAllowed("privacy")


def _changed(
    session: AsyncSession, programme: Programme, actor: Actor, now: datetime, change: str
) -> None:
    audit.record(
        session, AuditAction.privacy_changed, now, actor_id=actor.person.id,
        programme_id=programme.id, details={"change": change, "version": programme.notice_version},
    )  # fmt: skip


def clean_operator(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_OPERATOR:
        raise InvalidInput("operator")
    return cleaned


def clean_notice(text: str) -> str:
    cleaned = text.strip()
    if not cleaned or len(cleaned) > MAX_NOTICE:
        raise InvalidInput("notice")
    return cleaned


async def set_operator(
    session: AsyncSession, programme: Programme, name: str, actor: Actor, now: datetime
) -> None:
    """Name who keeps the programme's data. The notice says it, so its version grows: everyone
    consents again at their next request."""
    _allowed(actor, programme)
    programme.privacy_operator = clean_operator(name)
    programme.notice_version += 1
    _changed(session, programme, actor, now, "operator")
    await session.flush()


async def set_notice(
    session: AsyncSession, programme: Programme, text: str | None, actor: Actor, now: datetime
) -> None:
    """The programme's own notice, or the default one (``None``); a new version either way."""
    _allowed(actor, programme)
    programme.privacy_notice = None if text is None else clean_notice(text)
    programme.notice_version += 1
    _changed(session, programme, actor, now, "notice" if text is not None else "default")
    await session.flush()


async def set_health(
    session: AsyncSession,
    programme: Programme,
    topic: Topic,
    health: bool,
    actor: Actor,
    now: datetime,
) -> bool:
    """Mark a topic as one whose requests tell of health (or not); True when it changed."""
    _allowed(actor, programme)
    if topic.programme_id != programme.id:
        raise InvalidInput("topic")
    if topic.health == health:
        return False
    topic.health = health
    audit.record(
        session, AuditAction.privacy_changed, now, actor_id=actor.person.id,
        programme_id=programme.id,
        details={"change": "health" if health else "not_health", "topics": [topic.code]},
    )  # fmt: skip
    await session.flush()
    return True


# --- requests that wait in the inbox ----------------------------------------------------------

BLANK = "{}"  # the payload of an update whose content was discarded (``blank_update``)


async def kept_update(session: AsyncSession, update_id: int) -> str | None:
    """An update as it came (handled or not), while the inbox keeps it and it was not blanked:
    a request that waited for its author's consent is filed from here."""
    payload = await session.scalar(
        select(InboxUpdate.payload).where(InboxUpdate.update_id == update_id)
    )
    return None if payload in (None, BLANK) else payload


async def blank_update(session: AsyncSession, update_id: int) -> None:
    """Forget what an update said (a request its author did not consent to keep); its row
    stays, so a redelivery is still known and ignored."""
    await session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.update_id == update_id)
        .values(payload=BLANK)
        .execution_options(synchronize_session=False)
    )
