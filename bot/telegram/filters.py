"""Filters for handlers: who may use a command is decided on the server, every time."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import Message, TelegramObject

from bot.domain.access import Actor
from models import RoleKind

# The kinds of chat Telegram calls a group.
GROUP_TYPES = frozenset({"group", "supergroup"})


class HasRole(Filter):
    """Passes when the person holds one of the roles in any programme (admins always pass)."""

    def __init__(self, *kinds: RoleKind, admin: bool = True) -> None:
        self.kinds = kinds
        self.admin = admin

    async def __call__(self, event: TelegramObject, actor: Actor | None = None) -> bool:
        if actor is None:
            return False
        if self.admin and actor.is_admin:
            return True
        return actor.any_of(self.kinds)


class IsAdmin(Filter):
    async def __call__(self, event: TelegramObject, actor: Actor | None = None) -> bool:
        return actor is not None and actor.is_admin


class AnyOfCommands(Filter):
    """A quick first test for a router whose every message handler wants a command: the
    message starts with one of them. It passes whatever a handler's own ``Command`` would
    (and a little more: any case, any mention), so it changes nothing but the time an update
    spends passing routers that are not its own."""

    def __init__(self, names: frozenset[str], prefixes: frozenset[str]) -> None:
        self.names = names
        self.prefixes = prefixes

    async def __call__(self, message: Message) -> bool:
        text = message.text or message.caption
        if not text or text[0] not in self.prefixes:
            return False
        word = text.split(maxsplit=1)[0][1:]
        return word.partition("@")[0].casefold() in self.names


def commands_only(router: Router) -> None:
    """Give the router an ``AnyOfCommands`` test when each of its message handlers has a
    ``Command`` filter of plain names (no pattern); otherwise leave it as it is."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for handler in router.message.handlers:
        commands = [f.callback for f in handler.filters or () if isinstance(f.callback, Command)]
        if not commands:
            return  # this handler takes messages that are not commands
        for command in commands:
            for name in command.commands:
                if not isinstance(name, str):
                    return  # a pattern: no list of names to test against
                names.add(name.casefold())
            prefixes.update(command.prefix)
    if names:
        router.message.filter(AnyOfCommands(frozenset(names), frozenset(prefixes)))
