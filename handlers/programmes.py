"""``/programmes`` and ``/newprogramme``: the programmes a person runs and their groups."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain.access import Actor
from bot.domain.errors import InvalidInput
from bot.domain.programmes import (
    MAX_TITLE,
    chats_of,
    find_or_create_programme,
    list_programmes,
    set_quiet_groups,
)
from bot.telegram.filters import HasRole, IsAdmin
from bot.telegram.replies import Replies
from bot.views.programmes import QUIET_WORDS, VISIBLE_WORDS, replies_state, replies_usage
from handlers.common import command_for
from models import RoleKind


def router() -> Router:
    router = Router(name="programmes")
    refusal = __("This command is for coordinators and admins.")
    coordinator = HasRole(RoleKind.coordinator)
    command_for(router, "programmes", programmes, coordinator, refusal=refusal, private=False)
    command_for(router, "newprogramme", new_programme, IsAdmin(), refusal=refusal, private=False)
    command_for(router, "replies", replies, coordinator, refusal=refusal, private=False)
    return router


async def programmes(
    message: Message, outbox: Replies, session: AsyncSession, actor: Actor
) -> None:
    ids = None if actor.is_admin else actor.programmes(RoleKind.coordinator)
    found = await list_programmes(session, ids)
    if not found:
        await outbox.answer(
            message, _("No programmes yet. An admin creates one with /newprogramme Title.")
        )
        return
    lines: list[str] = []
    for programme in found:
        chats = await chats_of(session, programme.id)
        groups = ", ".join(html.escape(chat.title or str(chat.telegram_id)) for chat in chats)
        lines.append(
            _("• <b>{title}</b> — groups: {groups}").format(
                title=html.escape(programme.title), groups=groups or "—"
            )
        )
    await outbox.answer(message, "\n".join(lines))


async def new_programme(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
) -> None:
    title = command.args or ""
    if len(" ".join(title.split())) > MAX_TITLE:
        await outbox.answer(
            message, _("A programme title is at most {limit} characters.").format(limit=MAX_TITLE)
        )
        return
    try:
        programme, created = await find_or_create_programme(
            session, title, now, quiet_groups=settings.group_replies == "quiet"
        )
    except InvalidInput:
        await outbox.answer(message, _("Usage: /newprogramme Programme title"))
        return
    if created:
        await outbox.answer(
            message,
            _(
                "Programme «{title}» created. Add me to its groups and send /register there; "
                "invite a coordinator with /invite coordinator."
            ).format(title=html.escape(programme.title)),
        )
    else:
        await outbox.answer(
            message,
            _("Programme «{title}» already exists.").format(title=html.escape(programme.title)),
        )


async def replies(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """``/replies``: how the groups of the coordinator's programmes hear the bot; with
    ``quiet`` or ``visible``, every one of those programmes switched."""
    word = (command.args or "").strip().casefold()
    quiet = True if word in QUIET_WORDS else False if word in VISIBLE_WORDS else None
    if word and quiet is None:
        await outbox.answer(message, replies_usage())
        return
    ids = None if actor.is_admin else actor.programmes(RoleKind.coordinator)
    found = [p for p in await list_programmes(session, ids) if actor.coordinates(p.id)]
    if not found:
        await outbox.answer(
            message, _("No programmes yet. An admin creates one with /newprogramme Title.")
        )
        return
    if quiet is not None:
        for programme in found:
            await set_quiet_groups(session, programme, quiet, actor, now)
    lines = [replies_state(programme) for programme in found]
    if quiet is None:
        lines.append(replies_usage())
    await outbox.answer(message, "\n\n".join(lines))
