"""What ``/forget`` and ``/mydata`` show: the confirmation and its buttons, the file of data."""

from __future__ import annotations

import json
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.delivery.outbox import Document


class ForgetChoice(CallbackData, prefix="fg"):
    """«Erase» (``yes``) or «Cancel» under the confirmation, for one person (by id)."""

    yes: bool
    person: int


def forget_keyboard(person_id: int, *, self_asked: bool) -> InlineKeyboardMarkup:
    erase = _("Yes, erase everything about me") if self_asked else _("Yes, erase")
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(
                text=erase, callback_data=ForgetChoice(yes=True, person=person_id).pack()
            )],
            [InlineKeyboardButton(
                text=_("Cancel"), callback_data=ForgetChoice(yes=False, person=person_id).pack()
            )],
        ]
    )  # fmt: skip


def forget_question(requests: int, *, who: str | None = None) -> str:
    """The confirmation: for the person themselves, or (``who``) for a coordinator."""
    if who is None:
        first = _("Erase everything the bot keeps about you?")
    else:
        first = _("Erase everything the bot keeps about {who}?").format(who=who)
    return "\n".join(
        (
            first,
            _(
                "Names, the texts of requests ({count}) and messages, files: all of it, for good. "
                "Open requests are withdrawn. Only anonymous figures stay."
            ).format(count=requests),
        )
    )


def mydata_file(kept: dict[str, Any]) -> Document:
    content = json.dumps(kept, ensure_ascii=False, indent=2).encode()
    return Document(filename="mydata.json", content=content)
