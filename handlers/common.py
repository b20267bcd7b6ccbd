"""What several routers share: kinds of chat, commands for some people in private only, numbers,
zones, files."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import CallbackType
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from babel.support import LazyProxy

from bot.config import Settings
from bot.domain.access import Actor
from bot.domain.tickets import FileRef
from bot.telegram.filters import GROUP_TYPES
from bot.telegram.replies import Replies


class ChatKind(Filter):
    """The event happened in a chat of one of these kinds (a button press has no chat here).

    Checked in the event loop: aiogram runs a bare magic filter such as ``F.chat.type`` in a
    worker thread, a thread hop for every check of every update.
    """

    def __init__(self, kinds: frozenset[str]) -> None:
        self.kinds = kinds

    async def __call__(self, event: TelegramObject) -> bool:
        chat: Any = getattr(event, "chat", None)
        return chat is not None and chat.type in self.kinds


# Filters for routers: the message or event comes from a group, or from a private chat.
IN_GROUP = ChatKind(GROUP_TYPES)
IN_PRIVATE = ChatKind(frozenset({"private"}))


class NotCommand(Filter):
    """A message that is not a command: in a dialogue, commands go to their own handlers."""

    async def __call__(self, message: Message) -> bool:
        return not content_of(message).startswith("/")


def in_group(message: Message) -> bool:
    return message.chat.type in GROUP_TYPES


async def private_only(message: Message, outbox: Replies) -> None:
    """The answer to a command that shows names or files, sent in a group."""
    await outbox.reply(message, _("I show this in private only: write the command to me directly."))


def command_for(
    router: Router,
    command: str,
    handler: CallbackType,
    *allowed: CallbackType,
    refusal: LazyProxy | None = None,
    private: bool = True,
) -> None:
    """Register ``handler`` for ``/command`` sent by those the ``allowed`` filters let in.

    A ``private`` command (it shows names or files) is answered in a group with
    ``private_only``. Everyone else hears the ``refusal`` (a lazy text, read in their
    language), when there is one.
    """
    if private:
        router.message.register(private_only, Command(command), IN_GROUP)
    router.message.register(handler, Command(command), *allowed)
    if refusal is not None:

        async def refused(message: Message, outbox: Replies) -> None:
            await outbox.answer(message, str(refusal))

        router.message.register(refused, Command(command))


async def invalid_button(query: CallbackQuery, outbox: Replies) -> None:
    """A press of a button whose data no handler accepts (forged, or from an old version)."""
    await outbox.callback(query, _("This button is not valid."), show_alert=True)


def parse_number(text: str | None) -> tuple[int | None, str]:
    """``"42 rest"`` or ``"#42 rest"`` -> (42, "rest"); no number -> (None, text)."""
    head, _sep, rest = (text or "").strip().partition(" ")
    digits = head.lstrip("#")
    if digits.isdigit() and len(digits) <= 12:
        return int(digits), rest.strip()
    return None, (text or "").strip()


def zone_of(actor: Actor, settings: Settings) -> str:
    """The person's own zone, else the deployment's."""
    return actor.person.timezone or settings.default_timezone


def files_of(message: Message) -> list[FileRef]:
    """The photo (its largest size) or document of a message, by Telegram file id."""
    if message.photo:
        return [FileRef("photo", message.photo[-1].file_id)]
    if message.document:
        return [FileRef("document", message.document.file_id, message.document.file_name)]
    return []


def content_of(message: Message) -> str:
    return message.text or message.caption or ""
