"""Per-update context: the transaction and its outbox, the current person, their language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import transaction
from bot.delivery.inbox import Inbox
from bot.delivery.sender import Sender
from bot.domain.access import Actor
from bot.domain.people import (
    Identity,
    ensure_role,
    find_person,
    find_person_in_group,
    language_of,
    update_person,
)
from bot.domain.programmes import chat_and_programme
from bot.news.tickets import TicketNews
from bot.telegram.filters import GROUP_TYPES
from bot.telegram.fsm import held_dialogues
from bot.telegram.replies import CallbackAnswer, Replies
from bot.time.clock import Clock, utc_now
from models import GroupChat, Programme, RoleKind

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """Owns the transaction: commit when the handler succeeds, roll back when it raises.

    The update's inbox row is marked handled in the same transaction, and whatever the handler
    says goes into the outbox in it too; so an update is handled once, with everything it
    changed and announced, or not at all (and is then handled again). No Bot API call can be
    made inside (``bot.db.holding_transaction``). After the commit, button presses are
    answered at once; the sender has the rest.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        inbox: Inbox,
        sender: Sender,
    ) -> None:
        self.session_factory = session_factory
        self.inbox = inbox
        self.sender = sender

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update_id: int | None = data.get("inbox_update_id")
        storage = data.get("fsm_storage")
        async with held_dialogues(storage), transaction(self.session_factory) as session:
            outbox = Replies(session, self.sender)
            data["session"] = session
            data["outbox"] = outbox
            result = await handler(event, data)
            if update_id is not None:
                await self.inbox.finish(session, update_id)
        await self._answer_buttons(event, outbox)
        return result

    async def _answer_buttons(self, event: TelegramObject, outbox: Replies) -> None:
        answers = list(outbox.callback_answers)
        query = event.callback_query if isinstance(event, Update) else None
        if query is not None and not any(a.query_id == query.id for a in answers):
            answers.append(CallbackAnswer(query.id))  # stop the button's spinner
        for answer in answers:
            await self.sender.call_now(
                AnswerCallbackQuery(
                    callback_query_id=answer.query_id,
                    text=answer.text,
                    show_alert=answer.show_alert,
                )
            )


class ActorMiddleware(BaseMiddleware):
    """Loads or creates the person behind the update with their roles, as ``actor``.

    It also puts the group's row (``group``) and its programme (``programme``, None while the
    group is not registered) in the data when the update comes from a group, the moment the
    update is handled at (``now``), read from the dispatcher's ``clock``, and the ticket news of
    the update's transaction (``news``: who hears what, in their own language).
    """

    def __init__(self, settings: Settings, i18n: I18n) -> None:
        self.settings = settings
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession = data["session"]
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        clock: Clock = data.get("clock", utc_now)
        now = clock()
        group_chat = chat if chat is not None and chat.type in GROUP_TYPES else None
        group: GroupChat | None = None
        programme: Programme | None = None
        if user is not None and not user.is_bot:
            identity = Identity(
                telegram_id=user.id,
                first_name=user.first_name,
                last_name=user.last_name,
                username=user.username,
                language_code=user.language_code,
            )
            if group_chat is not None:
                found, group, programme = await find_person_in_group(
                    session, user.id, group_chat.id
                )
            else:
                found = await find_person(session, user.id)
            private = chat is not None and chat.type == "private"
            person = await update_person(session, found, identity, now, private=private)
            data["actor"] = Actor.of(
                person,
                is_admin=self.settings.is_admin(user.id),
                language=language_of(person, self.settings.default_language),
            )
        elif group_chat is not None:
            group, programme = await chat_and_programme(session, group_chat.id)
        if group_chat is not None:
            data["group"] = group
            data["programme"] = programme
            data["outbox"].quiet = programme is not None and programme.quiet_groups
            actor = data.get("actor")
            if actor is not None and group is not None and group.programme_id is not None:
                await _enrol_member(session, actor, group.programme_id, now)
        data["now"] = now
        data["news"] = TicketNews(session, data["outbox"], self.i18n, self.settings, now)
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
