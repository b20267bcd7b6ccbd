"""``/audit [N]``: the latest entries of the audit trail, for the bot's admins."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery import Outbox
from bot.domain import audit
from bot.domain.access import Actor
from bot.telegram.filters import IsAdmin
from bot.views.audit import audit_messages
from handlers.common import IN_GROUP, private_only


def router() -> Router:
    router = Router(name="audit")
    router.message.register(private_only, Command("audit"), IN_GROUP)
    router.message.register(show_audit, Command("audit"), IsAdmin())
    router.message.register(refused, Command("audit"))
    return router


async def refused(message: Message, outbox: Outbox) -> None:
    await outbox.answer(message, _("The audit trail is for the bot's admins."))


async def show_audit(
    message: Message,
    outbox: Outbox,
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
