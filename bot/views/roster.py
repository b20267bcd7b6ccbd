"""How ``/mentors`` looks: the roster, one mentor's card, and the keyboards to change them.

Button data carries a role id and an action only; the handler loads the role again and
checks that the presser coordinates its programme on every press.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.roster import CAPACITY_CHOICES, RosterEntry
from bot.views.tickets import when
from models import Programme, Topic

PER_PAGE = 8
NAME_LIMIT = 60


class RosterPage(CallbackData, prefix="rp"):
    programme: int
    page: int = 0


class MentorAction(CallbackData, prefix="ra"):
    """card, topics, topic (value: topic id), capacity, cap (value), off, off_yes, on."""

    role: int
    action: str
    value: int = 0


def _topics(entry: RosterEntry, language: str) -> str:
    return ", ".join(html.escape(t.title(language)) for t in entry.topics) or _(
        "none (general consultant)"
    )


def _short(text: str) -> str:
    return text if len(text) <= NAME_LIMIT else text[: NAME_LIMIT - 1].rstrip() + "…"


def _name(entry: RosterEntry) -> str:
    name = f"<b>{html.escape(_short(entry.person.display_name))}</b>"
    if entry.person.username:
        name += f" @{html.escape(entry.person.username)}"
    return name


def _reach(entry: RosterEntry) -> str:
    if entry.reachable:
        return _("✅ gets cards in private")
    return _("⚠️ has not opened the bot: cards do not reach them")


def roster_line(entry: RosterEntry, language: str, zone_name: str) -> str:
    lines = [_name(entry) if entry.role.active else "<s>" + _name(entry) + "</s>"]
    lines.append(
        _("Topics: {topics}").format(topics=_topics(entry, language))
        + " · "
        + _("in progress {open} of {capacity}").format(
            open=entry.open_tickets, capacity=entry.capacity
        )
    )
    lines.append(
        _("Last seen {moment}").format(moment=when(entry.last_seen, zone_name))
        + " · "
        + (_reach(entry) if entry.role.active else _("deactivated"))
    )
    return "\n".join(lines)


def roster_text(
    programme: Programme,
    entries: Sequence[RosterEntry],
    page: int,
    language: str,
    zone_name: str,
) -> str:
    if not entries:
        return _(
            "«{programme}» has no mentors yet. Invite one: /invite mentor legal grants"
        ).format(programme=html.escape(programme.title))
    active = sum(1 for e in entries if e.role.active)
    shown = entries[page * PER_PAGE : (page + 1) * PER_PAGE]
    lines = [
        _("Mentors of «{programme}»: {active} active").format(
            programme=html.escape(programme.title), active=active
        ),
        "",
        *(roster_line(e, language, zone_name) + "\n" for e in shown),
        _("Press a name to change topics or capacity, or to deactivate."),
    ]
    pages = pages_of(entries)
    if pages > 1:
        lines.append(_("Page {page} of {pages}").format(page=page + 1, pages=pages))
    return "\n".join(lines)


def pages_of(entries: Sequence[RosterEntry]) -> int:
    return max(1, -(-len(entries) // PER_PAGE))


def roster_keyboard(
    programme: Programme, entries: Sequence[RosterEntry], page: int
) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    for entry in entries[page * PER_PAGE : (page + 1) * PER_PAGE]:
        mark = "" if entry.role.active else "⏸ "
        builder.button(
            text=f"{mark}{entry.person.display_name[:40]} ({entry.open_tickets}/{entry.capacity})",
            callback_data=MentorAction(role=entry.role.id, action="card"),
        )
    builder.adjust(2)
    navigation = InlineKeyboardBuilder()
    if page > 0:
        navigation.button(
            text="« " + _("Back"), callback_data=RosterPage(programme=programme.id, page=page - 1)
        )
    if page + 1 < pages_of(entries):
        navigation.button(
            text=_("Next") + " »", callback_data=RosterPage(programme=programme.id, page=page + 1)
        )
    builder.attach(navigation)
    markup = builder.as_markup()
    return markup if markup.inline_keyboard else None


def programme_keyboard(programmes: Sequence[Programme]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for programme in programmes[:20]:
        builder.button(text=programme.title[:60], callback_data=RosterPage(programme=programme.id))
    builder.adjust(1)
    return builder.as_markup()


def card_text(entry: RosterEntry, programme: Programme, language: str, zone_name: str) -> str:
    status = _("active") if entry.role.active else _("deactivated")
    return "\n".join(
        [
            _("Mentor of «{programme}» · {status}").format(
                programme=html.escape(programme.title), status=status
            ),
            "",
            roster_line(entry, language, zone_name),
        ]
    )


def _back(entry: RosterEntry) -> MentorAction:
    return MentorAction(role=entry.role.id, action="card")


def card_keyboard(entry: RosterEntry) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    role = entry.role.id
    builder.button(text=_("Topics"), callback_data=MentorAction(role=role, action="topics"))
    builder.button(text=_("Capacity"), callback_data=MentorAction(role=role, action="capacity"))
    if entry.role.active:
        builder.button(text=_("Deactivate"), callback_data=MentorAction(role=role, action="off"))
    else:
        builder.button(text=_("Reactivate"), callback_data=MentorAction(role=role, action="on"))
    builder.button(
        text="« " + _("All mentors"),
        callback_data=RosterPage(programme=entry.role.programme_id),
    )
    builder.adjust(2)
    return builder.as_markup()


def topics_keyboard(
    entry: RosterEntry, topics: Sequence[Topic], language: str
) -> InlineKeyboardMarkup:
    chosen = {t.id for t in entry.role.topics}
    builder = InlineKeyboardBuilder()
    for topic in topics:
        mark = "✅ " if topic.id in chosen else ""
        builder.button(
            text=mark + topic.title(language),
            callback_data=MentorAction(role=entry.role.id, action="topic", value=topic.id),
        )
    builder.adjust(2)
    builder.row()
    builder.button(text="« " + _("Done"), callback_data=_back(entry))
    return builder.as_markup()


def capacity_keyboard(entry: RosterEntry) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for choice in CAPACITY_CHOICES:
        mark = "✅ " if choice == entry.capacity else ""
        builder.button(
            text=f"{mark}{choice}",
            callback_data=MentorAction(role=entry.role.id, action="cap", value=choice),
        )
    builder.adjust(5)
    builder.row()
    builder.button(text="« " + _("Back"), callback_data=_back(entry))
    return builder.as_markup()


def capacity_prompt(entry: RosterEntry) -> str:
    return _(
        "How many requests may {mentor} hold at once? They have {open} in progress now."
    ).format(mentor=html.escape(entry.person.display_name), open=entry.open_tickets)


def topics_prompt(entry: RosterEntry) -> str:
    return _("Topics of {mentor}: press one to add or remove it.").format(
        mentor=html.escape(entry.person.display_name)
    )


def deactivate_prompt(entry: RosterEntry) -> str:
    text = _("Deactivate {mentor}? They will get no new requests of this programme.").format(
        mentor=html.escape(entry.person.display_name)
    )
    if entry.open_tickets:
        text += " " + _(
            "Their {count} requests in progress go back to the queue, and the other mentors "
            "of each topic get the cards."
        ).format(count=entry.open_tickets)
    return text


def deactivate_keyboard(entry: RosterEntry) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Yes, deactivate"), callback_data=MentorAction(role=entry.role.id, action="off_yes")
    )
    builder.button(text="« " + _("Back"), callback_data=_back(entry))
    builder.adjust(1)
    return builder.as_markup()


def returned_text(entry: RosterEntry, numbers: Sequence[int], cards: int) -> str:
    name = html.escape(entry.person.display_name)
    if not numbers:
        return _("{mentor} is deactivated.").format(mentor=name)
    return _(
        "{mentor} is deactivated. Back in the queue: {numbers}; cards went to {cards} mentors."
    ).format(mentor=name, numbers=", ".join(f"#{n}" for n in numbers), cards=cards)
