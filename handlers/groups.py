"""Group onboarding: greeting, ``/register``, leaving strangers' groups, supergroup migration."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.filters import (
    JOIN_TRANSITION,
    ChatMemberUpdatedFilter,
    Command,
    CommandObject,
    Filter,
)
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain.access import Actor
from bot.domain.errors import InvalidInput
from bot.domain.programmes import (
    MAX_TITLE,
    find_or_create_programme,
    get_chat,
    get_programme,
    list_programmes,
    migrate_chat,
    note_chat,
    register_chat,
)
from bot.telegram.replies import Replies
from bot.views.groups import RegisterPick, register_keyboard
from handlers.common import IN_GROUP, IN_PRIVATE, in_group
from models import GroupChat, Programme, RoleKind

# Commands that make sense in a group the bot serves no programme in yet.
UNREGISTERED_OK = {"register", "start", "help", "lang", "tz", "topics"}


def router() -> Router:
    router = Router(name="groups")
    router.my_chat_member.register(bot_added, ChatMemberUpdatedFilter(JOIN_TRANSITION), IN_GROUP)
    router.message.register(migrated, _Migration())
    router.message.register(register, Command("register"), IN_GROUP)
    router.message.register(register_in_private, Command("register"), IN_PRIVATE)
    router.callback_query.register(register_picked, RegisterPick.filter())
    router.message.register(not_registered, IN_GROUP, _UnregisteredCommand())
    return router


class _Migration(Filter):
    """The service message of a group's move to a supergroup (either side of it)."""

    async def __call__(self, message: Message) -> bool:
        return bool(message.migrate_to_chat_id or message.migrate_from_chat_id)


class _UnregisteredCommand(Filter):
    """A command other than the onboarding ones, in a group not bound to a programme."""

    async def __call__(self, message: Message, group: GroupChat | None = None) -> bool:
        if group is not None and group.registered:
            return False
        text = message.text or ""
        if not text.startswith("/"):
            return False
        name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
        return name not in UNREGISTERED_OK


def may_register(actor: Actor | None) -> bool:
    return actor is not None and (actor.is_admin or actor.has(RoleKind.coordinator))


async def bot_added(
    event: ChatMemberUpdated,
    session: AsyncSession,
    outbox: Replies,
    now: datetime,
    actor: Actor | None = None,
) -> None:
    chat = await note_chat(session, event.chat.id, event.chat.title or "", now)
    if chat.registered and chat.programme_id is not None:
        programme = await get_programme(session, chat.programme_id)
        await outbox.send(
            event.chat.id,
            _("Hello again! This group is registered to «{programme}». Requests: /ask").format(
                programme=html.escape(programme.title if programme else "")
            ),
        )
        return
    if not may_register(actor):
        await outbox.send(
            event.chat.id,
            _(
                "Hello! I serve only groups of programmes registered by their coordinators, "
                "and this group is not one of them, so I am leaving. If this is a mistake, "
                "ask your programme's coordinator to add me."
            ),
        )
        # After the message above: a chat's messages go out in the order they were written.
        await outbox.leave_chat(event.chat.id)
        return
    await outbox.send(
        event.chat.id,
        _(
            "Hello! I am MentorDesk: I turn this group's requests into consultations with "
            "mentors. To start, an admin or a coordinator sends /register (or "
            "/register Programme title)."
        ),
    )


async def migrated(message: Message, session: AsyncSession) -> None:
    if message.migrate_to_chat_id:
        await migrate_chat(session, message.chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id:
        await migrate_chat(session, message.migrate_from_chat_id, message.chat.id)


async def _registrable_programmes(session: AsyncSession, actor: Actor) -> list[Programme]:
    if actor.is_admin:
        return await list_programmes(session)
    return await list_programmes(session, actor.programmes(RoleKind.coordinator))


async def _bind(
    session: AsyncSession, chat: GroupChat, programme: Programme, actor: Actor, now: datetime
) -> str:
    if chat.programme_id == programme.id:
        return _("This group is already registered to «{programme}».").format(
            programme=html.escape(programme.title)
        )
    if chat.programme_id is not None and not actor.coordinates(chat.programme_id):
        return _("This group belongs to another programme; only its coordinator can move it.")
    await register_chat(session, chat, programme, actor.person, now)
    return _(
        "Done: this group is registered to «{programme}». Activists can now post requests "
        "with /ask followed by the question."
    ).format(programme=html.escape(programme.title))


async def register(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    actor: Actor | None = None,
) -> None:
    if actor is None or not may_register(actor):
        await outbox.answer(
            message, _("Only an admin or a programme coordinator can register a group.")
        )
        return
    chat = await note_chat(session, message.chat.id, message.chat.title or "", now)
    title = " ".join((command.args or "").split())
    if title:
        quiet = settings.group_replies == "quiet"
        await _register_by_title(message, outbox, session, chat, title, actor, now, quiet)
        return
    programmes = await _registrable_programmes(session, actor)
    if len(programmes) == 1 and not actor.is_admin:
        await outbox.answer(message, await _bind(session, chat, programmes[0], actor, now))
        return
    if not programmes:
        await outbox.answer(
            message, _("No programmes yet. Send /register followed by the programme's title.")
        )
        return
    hint = _("Which programme is this group part of?")
    if actor.is_admin:
        hint += " " + _("Or send /register followed by a new programme's title.")
    await outbox.answer(message, hint, reply_markup=register_keyboard(programmes))


async def _register_by_title(
    message: Message,
    outbox: Replies,
    session: AsyncSession,
    chat: GroupChat,
    title: str,
    actor: Actor,
    now: datetime,
    quiet_groups: bool,
) -> None:
    if len(title) > MAX_TITLE:
        await outbox.answer(
            message, _("A programme title is at most {limit} characters.").format(limit=MAX_TITLE)
        )
        return
    if actor.is_admin:
        try:
            programme, _created = await find_or_create_programme(
                session, title, now, quiet_groups=quiet_groups
            )
        except InvalidInput:
            await outbox.answer(message, _("Send /register followed by the programme's title."))
            return
        await outbox.answer(message, await _bind(session, chat, programme, actor, now))
        return
    own = await _registrable_programmes(session, actor)
    matches = [p for p in own if p.title.lower() == title.lower()]
    if not matches:
        titles = ", ".join(_("«{title}»").format(title=html.escape(p.title)) for p in own)
        await outbox.answer(
            message,
            _("You coordinate no programme called «{title}». Yours: {titles}.").format(
                title=html.escape(title), titles=titles
            ),
        )
        return
    await outbox.answer(message, await _bind(session, chat, matches[0], actor, now))


async def register_picked(
    query: CallbackQuery,
    outbox: Replies,
    callback_data: RegisterPick,
    session: AsyncSession,
    now: datetime,
    actor: Actor | None = None,
) -> Any:
    message = query.message
    if actor is None or not isinstance(message, Message) or not in_group(message):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    programme = await get_programme(session, callback_data.programme_id)
    if programme is None or not actor.coordinates(programme.id):
        return await outbox.callback(
            query,
            _("Only an admin or this programme's coordinator can register a group to it."),
            show_alert=True,
        )
    chat = await get_chat(session, message.chat.id) or await note_chat(
        session, message.chat.id, message.chat.title or "", now
    )
    text = await _bind(session, chat, programme, actor, now)
    await outbox.callback(query)
    await outbox.edit_message(message, text)
    return None


async def register_in_private(message: Message, outbox: Replies) -> None:
    await outbox.answer(
        message, _("/register works in a group: add me to the programme's group and send it there.")
    )


async def not_registered(message: Message, outbox: Replies) -> None:
    await outbox.answer(
        message,
        _(
            "This group is not registered to a programme yet, so I cannot take requests here. "
            "An admin or a coordinator can send /register."
        ),
    )
