"""``/audit [N]``: the latest entries of the audit trail, for the bot's admins."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import audit
from bot.domain.access import Actor
from bot.telegram.filters import IsAdmin
from bot.telegram.replies import Replies
from bot.views.audit import audit_messages
from handlers.common import command_for


def router() -> Router:
    router = Router(name="audit")
    refusal = __("The audit trail is for the bot's admins.")
    command_for(router, "audit", show_audit, IsAdmin(), refusal=refusal)
    return router


async def show_audit(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
) -> None:
    argument = (command.args or "").strip()
    if argument and not (argument.isdigit() and len(argument) <= 6):
        await outbox.answer(
            message,
            _("Usage: /audit [N], for example /audit 50 (at most {limit}).").format(
                limit=audit.MAX_SHOWN
            ),
        )
        return
    count = audit.clamp(int(argument) if argument else None)
    lines = await audit.latest(session, count)
    zone_name = actor.person.timezone or settings.default_timezone
    for text in audit_messages(lines, zone_name):
        await outbox.answer(message, text)
