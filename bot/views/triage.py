"""How triage reads: the ``/triage`` answer and switches, and the steps of passing a request on."""

from __future__ import annotations

import html
from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.views.tickets import number, topic_title
from models import Programme, Ticket, Topic


class TriageSwitch(CallbackData, prefix="tg"):
    """Switch a programme's triage on (1) or off (0)."""

    programme: int
    on: int


def triage_state(programme: Programme, consultants: int) -> str:
    """One programme's triage: on or off, and whom new requests reach first."""
    title = html.escape(programme.title)
    if not programme.triage:
        return _(
            "Triage is off in «{programme}»: new requests go straight to the mentors of their "
            "topic."
        ).format(programme=title)
    if consultants:
        return _(
            "Triage is on in «{programme}»: new requests go first to its general consultants "
            "({count}), who answer them or pass them to a specialist."
        ).format(programme=title, count=consultants)
    return _(
        "Triage is on in «{programme}», but it has no general consultant yet, so new requests "
        "go straight to the mentors of their topic. Invite one: /invite general"
    ).format(programme=title)


def triage_usage() -> str:
    return _(
        "Usage: /triage on or /triage off. With triage on, new requests go first to the "
        "programme's general consultants (mentors without a topic: /invite general)."
    )


def switch_keyboard(
    programmes: Sequence[Programme], *, turn_to: bool | None = None
) -> InlineKeyboardMarkup:
    """A button per programme to turn its triage on or off (``turn_to``), or else the other
    way from how it is."""
    builder = InlineKeyboardBuilder()
    for programme in programmes[:20]:
        on = not programme.triage if turn_to is None else turn_to
        label = _("Turn on in «{programme}»") if on else _("Turn off in «{programme}»")
        builder.button(
            text=label.format(programme=programme.title[:40]),
            callback_data=TriageSwitch(programme=programme.id, on=int(on)),
        )
    builder.adjust(1)
    return builder.as_markup()


def note_prompt(ticket: Ticket, topic: Topic, language: str) -> str:
    return _(
        "Passing request {number} to the specialists of «{topic}». Write a note for them in "
        "one message (what you found out, what to look at), or press «Without a note». The "
        "note stays in the request's history."
    ).format(number=number(ticket), topic=topic_title(topic, language))


def passed_text(ticket: Ticket, topic: Topic, offered: int, language: str) -> str:
    """What the general consultant reads once the request is passed on."""
    if offered:
        return _(
            "Request {number} is passed to the specialists of «{topic}» ({count}); the one who "
            "takes it will answer the author."
        ).format(number=number(ticket), topic=topic_title(topic, language), count=offered)
    return _(
        "Request {number} is passed to «{topic}», but no specialist of it is free right now; "
        "the coordinators have been told."
    ).format(number=number(ticket), topic=topic_title(topic, language))


def escalate_usage(codes: Sequence[str]) -> str:
    return _(
        "Usage: /escalate N topic [note], for example /escalate 42 legal The charter needs a "
        "lawyer. Topics: {codes}"
    ).format(codes=", ".join(codes) or "—")
