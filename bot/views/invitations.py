"""How invitations are made: the programme to invite to, when ``/invite`` fits several."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from models import Programme, Topic


class InvitePick(CallbackData, prefix="inv"):
    programme_id: int
    kind: str
    # Topic ids joined with '.', small enough for Telegram's 64-byte limit.
    topics: str


def invite_keyboard(
    choices: Sequence[tuple[Programme, list[Topic]]], kind: str
) -> InlineKeyboardMarkup:
    """A button per programme (the first 20) with the topics the invitation gives in it."""
    builder = InlineKeyboardBuilder()
    for programme, topics in choices[:20]:
        topic_ids = ".".join(str(t.id) for t in topics)
        builder.button(
            text=programme.title[:60],
            callback_data=InvitePick(programme_id=programme.id, kind=kind, topics=topic_ids),
        )
    builder.adjust(1)
    return builder.as_markup()
