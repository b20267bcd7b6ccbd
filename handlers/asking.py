"""``/ask`` in a group: a request filed by command, the way most requests come.

Its router goes early in the order (``handlers.build_routers``): no other feature's dialogue
takes a command like this one, and a request is spared their checks. Mentions of the bot and
replies to it stay with the tickets router, after the dialogues that may claim them first.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.delivery import Outbox
from bot.domain.access import Actor
from bot.domain.topic_learning import Suggesters
from bot.domain.topics import ActiveTopics
from bot.news.tickets import TicketNews
from handlers.common import IN_GROUP, files_of
from handlers.tickets import file_in_group
from models import GroupChat, Programme


def router() -> Router:
    router = Router(name="asking")
    router.message.register(ask_in_group, Command("ask"), IN_GROUP)
    return router


async def ask_in_group(
    message: Message,
    command: CommandObject,
    outbox: Outbox,
    actor: Actor,
    news: TicketNews,
    suggesters: Suggesters,
    active_topics: ActiveTopics,
    group: GroupChat | None = None,
    programme: Programme | None = None,
) -> None:
    if not (command.args or "").strip() and not files_of(message):
        await outbox.reply(
            message,
            _(
                "Write your question right after the command, for example:\n"
                "/ask How do we register an NGO?\n"
                "Or reply to this message with your question."
            ),
        )
        return
    await file_in_group(
        message, command.args or "", actor, news, suggesters, active_topics, group, programme
    )
