"""Per-update context: the database transaction, the current person, and their language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.domain.access import Actor
from bot.domain.people import Identity, ensure_role, language_of, upsert_person
from bot.domain.programmes import get_chat
from models import ProcessedUpdate, RoleKind

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
# Commits what the handler has done so far; the middleware still commits or rolls back the rest.
Checkpoint = Callable[[], Awaitable[None]]


class DbSessionMiddleware(BaseMiddleware):
    """Owns the transaction: commit when the handler succeeds, roll back when it raises.

    A handler that must tell people about something only once it is stored (a new ticket:
    "accepted" must never announce a ticket a failed commit then loses) calls the
    ``checkpoint`` it is given; what follows is a transaction of its own.

    It also records the update id in the same transaction, so an update delivered twice
    (a webhook retry, a restart before the offset was confirmed, another replica) is handled
    once, and an update whose handling failed is not marked and can be tried again.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.session_factory() as session:
            data["session"] = session
            data["checkpoint"] = session.commit
            if isinstance(event, Update) and not await _first_delivery(session, event.update_id):
                log.info("update %s was already handled; skipping", event.update_id)
                return None
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
            return result


async def _first_delivery(session: AsyncSession, update_id: int) -> bool:
    # A plain insert rather than a savepoint: SQLite drivers handle savepoints poorly, and a
    # duplicate needs nothing more than the rollback of this still-empty transaction.
    session.add(ProcessedUpdate(update_id=update_id, processed_at=datetime.now(UTC)))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return False
    return True


class ActorMiddleware(BaseMiddleware):
    """Loads or creates the person behind the update with their roles, as ``actor``.

    It also puts the group's row (``group``) in the data when the update comes from a group.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession = data["session"]
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        now = datetime.now(UTC)
        if user is not None and not user.is_bot:
            identity = Identity(
                telegram_id=user.id,
                first_name=user.first_name,
                last_name=user.last_name,
                username=user.username,
                language_code=user.language_code,
            )
            private = chat is not None and chat.type == "private"
            person = await upsert_person(session, identity, now, private=private)
            data["actor"] = Actor.of(
                person,
                is_admin=self.settings.is_admin(user.id),
                language=language_of(person, self.settings.default_language),
            )
        if chat is not None and chat.type in ("group", "supergroup"):
            group = await get_chat(session, chat.id)
            data["group"] = group
            actor = data.get("actor")
            if actor is not None and group is not None and group.programme_id is not None:
                await _enrol_member(session, actor, group.programme_id, now)
        data["now"] = now
        return await handler(event, data)


async def _enrol_member(
    session: AsyncSession, actor: Actor, programme_id: int, now: datetime
) -> None:
    """A member of a registered group who has no role in its programme is one of its activists."""
    if any(role.programme_id == programme_id for role in actor.person.roles):
        return
    role = await ensure_role(session, actor.person, programme_id, RoleKind.activist, now=now)
    actor.roles.append(role)


class ActorI18nMiddleware(I18nMiddleware):
    """The reply language is the person's (chosen with /lang, else Telegram's, else default)."""

    def __init__(self, i18n: I18n, default_language: str) -> None:
        super().__init__(i18n)
        self.default_language = default_language

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        actor: Actor | None = data.get("actor")
        if actor is not None:
            return actor.language
        return self.default_language
