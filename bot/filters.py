"""Filters for handlers: who may use a command is decided on the server, every time."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from bot.domain.access import Actor
from models import RoleKind


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
