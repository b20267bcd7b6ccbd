"""Programmes and the group chats bound to them: registration, migration, lookup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import audit
from bot.domain.access import Actor
from bot.domain.errors import InvalidInput, NotAllowed
from bot.domain.topics import add_default_topics
from models import AuditAction, GroupChat, Person, Programme

MAX_TITLE = 200


async def get_chat(session: AsyncSession, telegram_id: int) -> GroupChat | None:
    result = await session.execute(_GET_CHAT, {"telegram_id": telegram_id})
    return result.scalar_one_or_none()


async def chat_and_programme(
    session: AsyncSession, telegram_id: int
) -> tuple[GroupChat | None, Programme | None]:
    """The group's row and the programme it is registered to, in one query."""
    row = (await session.execute(_CHAT_AND_PROGRAMME, {"telegram_id": telegram_id})).first()
    return (None, None) if row is None else (row[0], row[1])


# Built once: every update from a group asks.
_GET_CHAT = select(GroupChat).where(GroupChat.telegram_id == bindparam("telegram_id"))
_CHAT_AND_PROGRAMME = (
    select(GroupChat, Programme)
    .outerjoin(Programme, Programme.id == GroupChat.programme_id)
    .where(GroupChat.telegram_id == bindparam("telegram_id"))
)


async def note_chat(
    session: AsyncSession, telegram_id: int, title: str, now: datetime
) -> GroupChat:
    """The chat's row, created unregistered the first time the bot sees the group."""
    chat = await get_chat(session, telegram_id)
    if chat is None:
        chat = GroupChat(telegram_id=telegram_id, title=title[:255], created_at=now)
        session.add(chat)
        await session.flush()
    elif title and chat.title != title[:255]:
        chat.title = title[:255]
    return chat


async def get_programme(session: AsyncSession, programme_id: int) -> Programme | None:
    return await session.get(Programme, programme_id)


async def list_programmes(session: AsyncSession, ids: list[int] | None = None) -> list[Programme]:
    query = select(Programme).order_by(Programme.id)
    if ids is not None:
        query = query.where(Programme.id.in_(ids))
    return list((await session.execute(query)).scalars())


def clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise InvalidInput("empty title")
    if len(cleaned) > MAX_TITLE:
        raise InvalidInput("title too long")
    return cleaned


async def find_or_create_programme(
    session: AsyncSession, title: str, now: datetime, *, quiet_groups: bool = True
) -> tuple[Programme, bool]:
    """The programme with this title (case-insensitive), or a new one; and whether it is new.

    Titles are compared in Python: SQLite's ``lower()`` folds ASCII only, and programme titles
    are mostly Cyrillic. A deployment has a handful of programmes, so reading them is cheap.
    """
    cleaned = clean_title(title)
    wanted = cleaned.casefold()
    for programme in await list_programmes(session):
        if programme.title.casefold() == wanted:
            return programme, False
    programme = Programme(title=cleaned, created_at=now, quiet_groups=quiet_groups)
    session.add(programme)
    await session.flush()
    await add_default_topics(session, programme)
    return programme, True


async def set_quiet_groups(
    session: AsyncSession, programme: Programme, quiet: bool, actor: Actor, now: datetime
) -> bool:
    """Make the programme's groups quiet (what concerns one person goes to that person alone)
    or every reply visible; True when it changed. Recorded in the audit trail."""
    if not actor.coordinates(programme.id):
        raise NotAllowed("replies")
    if programme.quiet_groups == quiet:
        return False
    programme.quiet_groups = quiet
    audit.record(
        session, AuditAction.replies_changed, now, actor_id=actor.person.id,
        programme_id=programme.id, details={"quiet": quiet},
    )  # fmt: skip
    await session.flush()
    return True


async def register_chat(
    session: AsyncSession, chat: GroupChat, programme: Programme, by: Person, now: datetime
) -> None:
    previous = chat.programme_id
    chat.programme_id = programme.id
    chat.registered_at = now
    chat.registered_by_id = by.id
    audit.record(
        session,
        AuditAction.group_registered,
        now,
        actor_id=by.id,
        programme_id=programme.id,
        details={"group": chat.title, "chat": chat.telegram_id, "from_programme": previous},
    )
    await session.flush()


async def chats_of(session: AsyncSession, programme_id: int) -> list[GroupChat]:
    result = await session.execute(
        select(GroupChat).where(GroupChat.programme_id == programme_id).order_by(GroupChat.id)
    )
    return list(result.scalars())


async def migrate_chat(session: AsyncSession, old_id: int, new_id: int) -> GroupChat | None:
    """Carry a group's registration over to the supergroup it became.

    Telegram announces a migration twice (in the old chat and in the new one) and in either
    order, so this is idempotent and tolerates a row already noted for the new id.
    """
    old = await get_chat(session, old_id)
    if old is None:
        return await get_chat(session, new_id)
    new = await get_chat(session, new_id)
    if new is not None:
        if new.registered and not old.registered:
            return new
        await session.execute(delete(GroupChat).where(GroupChat.id == new.id))
        await session.flush()
    old.telegram_id = new_id
    await session.flush()
    return old
