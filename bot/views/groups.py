"""How a group is registered to a programme: the buttons of ``/register``."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from models import Programme


class RegisterPick(CallbackData, prefix="reg"):
    programme_id: int


def register_keyboard(programmes: Sequence[Programme]) -> InlineKeyboardMarkup:
    """A button per programme (the first 20) to register the group to, one to a row."""
    builder = InlineKeyboardBuilder()
    for programme in programmes[:20]:
        builder.button(
            text=programme.title[:60], callback_data=RegisterPick(programme_id=programme.id)
        )
    builder.adjust(1)
    return builder.as_markup()
