"""The town and organisation question, ``/profile``, and the register of ``/people``."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.register import RegisterEntry, RegisterFilter
from bot.time.zones import zone
from models import Profile

PEOPLE_PER_PAGE = 15
NAME_LIMIT = 40

# The question's buttons: an offered answer by its place in the list, or one of these.
WRITE_OWN, SKIP, CHANGE = -1, -2, -3
TOWN, ORGANISATION = "t", "o"


class ProfileButton(CallbackData, prefix="pf"):
    """A town or an organisation offered (``pick`` its place among the programme's most
    given), «write my own», «skip», or «change» from ``/profile``."""

    what: str  # TOWN or ORGANISATION
    pick: int
    programme: int = 0


class PeoplePage(CallbackData, prefix="pp"):
    """A page of ``/people``: the filter by kind and the place of its value in the sorted
    list of the programmes' answers (a topic by its id), never the text itself."""

    page: int
    kind: str = ""  # "", "t", "o" or "c"
    value: int = 0


def question(what: str, *, private: bool) -> str:
    if what == TOWN:
        text = _(
            "Which town are you from? The programme counts whom it helps by town. "
            "You may skip this."
        )
        if not private:
            text += "\n" + _("Another town: write /profile to me in private.")
        return text
    text = _("Which organisation are you from, if any? You may skip this.")
    if not private:
        text += "\n" + _("Another organisation: write /profile to me in private.")
    return text


def question_keyboard(
    what: str, offered: Sequence[str], programme_id: int, *, private: bool
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for index, name in enumerate(offered):
        builder.button(
            text=_short(name, 30),
            callback_data=ProfileButton(what=what, pick=index, programme=programme_id),
        )
    builder.adjust(2)
    row = []
    if private:
        row.append(
            InlineKeyboardButton(
                text="✍️ " + (_("Another town") if what == TOWN else _("Another organisation")),
                callback_data=ProfileButton(
                    what=what, pick=WRITE_OWN, programme=programme_id
                ).pack(),
            )
        )
    row.append(
        InlineKeyboardButton(
            text=_("Skip"),
            callback_data=ProfileButton(what=what, pick=SKIP, programme=programme_id).pack(),
        )
    )
    builder.row(*row)
    return builder.as_markup()


def write_prompt(what: str) -> str:
    if what == TOWN:
        return _("Write the name of your town, e.g. Стаханов.")
    return _("Write the name of your organisation.")


def saved_text(what: str, value: str) -> str:
    if what == TOWN:
        return _("Town: {town}.").format(town=html.escape(value))
    return _("Organisation: {organisation}.").format(organisation=html.escape(value))


def thanks_text() -> str:
    return _("Thank you! To change it: /profile")


def skipped_text() -> str:
    return _("Fine, I will not ask again. To tell it later: /profile")


def empty_answer_text(what: str) -> str:
    if what == TOWN:
        return _("I found no town in that. Write its name, e.g. Стаханов.")
    return _("I found no organisation in that. Write its name.")


def profile_text(profile: Profile | None) -> str:
    nothing = _("not given")
    town = profile.town if profile is not None and profile.town else None
    organisation = profile.organisation if profile is not None and profile.organisation else None
    return "\n".join(
        [
            _("What you told the programmes about yourself:"),
            _("Town: {town}.").format(town=html.escape(town) if town else nothing),
            _("Organisation: {organisation}.").format(
                organisation=html.escape(organisation) if organisation else nothing
            ),
            _("Coordinators see it in the programme's register and count it in reports."),
        ]
    )


def profile_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Change town"), callback_data=ProfileButton(what=TOWN, pick=CHANGE))
    builder.button(
        text=_("Change organisation"), callback_data=ProfileButton(what=ORGANISATION, pick=CHANGE)
    )
    builder.adjust(2)
    return builder.as_markup()


# --- /people -----------------------------------------------------------------------------------


def people_usage() -> str:
    return _(
        "Usage: /people — everyone; /people town Стаханов; /people organisation Луч; "
        "/people legal — those with requests on a topic."
    )


def unknown_filter_text(words: str) -> str:
    return (
        _("No town, organisation or topic «{words}» among the programme's people.").format(
            words=html.escape(words[:60])
        )
        + "\n"
        + people_usage()
    )


def filter_text(chosen: RegisterFilter, topic_title: str | None) -> str:
    if chosen.town:
        return _("town {town}").format(town=html.escape(chosen.town))
    if chosen.organisation:
        return _("organisation {organisation}").format(
            organisation=html.escape(chosen.organisation)
        )
    if chosen.topic:
        return _("topic {topic}").format(topic=html.escape(topic_title or chosen.topic))
    return ""


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def entry_text(entry: RegisterEntry, zone_name: str) -> str:
    person = entry.person
    name = html.escape(_short(person.display_name, NAME_LIMIT))
    if person.username:
        name += f" @{html.escape(person.username)}"
    place = ", ".join(
        html.escape(value) for value in (entry.town, entry.organisation) if value
    ) or _("town not given")
    figures = _(
        "requests: {requests} · consultations: {consultations} · meetings: {meetings}"
    ).format(requests=entry.requests, consultations=entry.consultations, meetings=entry.meetings)
    last = _last(entry.last_contact, zone_name)
    return f"<b>{name}</b> — {place}\n{figures}{last}"


def _last(moment: datetime | None, zone_name: str) -> str:
    if moment is None:
        return ""
    day = moment.astimezone(zone(zone_name)).strftime("%d.%m.%Y")
    return " · " + _("last contact {day}").format(day=day)


def people_text(
    entries: Sequence[RegisterEntry],
    page: int,
    programmes: Sequence[str],
    filtered: str,
    zone_name: str,
) -> str:
    titles = ", ".join(f"«{html.escape(title)}»" for title in programmes)
    if filtered:
        heading = _("People of {programmes}, {filter}: {count}").format(
            programmes=titles, filter=filtered, count=len(entries)
        )
    else:
        heading = _("People of {programmes}: {count}").format(programmes=titles, count=len(entries))
    if not entries:
        return heading + "\n\n" + _("Nobody yet.")
    shown = entries[page * PEOPLE_PER_PAGE : (page + 1) * PEOPLE_PER_PAGE]
    lines = [heading, *(entry_text(entry, zone_name) for entry in shown)]
    pages = pages_of(entries)
    text = "\n\n".join(lines)
    if pages > 1:
        text += "\n\n" + _("Page {page} of {pages}").format(page=page + 1, pages=pages)
    return text


def pages_of(entries: Sequence[RegisterEntry]) -> int:
    return max(1, -(-len(entries) // PEOPLE_PER_PAGE))


def people_keyboard(page: int, pages: int, kind: str, value: int) -> InlineKeyboardMarkup | None:
    navigation = []
    if page > 0:
        navigation.append(
            InlineKeyboardButton(
                text="« " + _("Back"),
                callback_data=PeoplePage(page=page - 1, kind=kind, value=value).pack(),
            )
        )
    if page + 1 < pages:
        navigation.append(
            InlineKeyboardButton(
                text=_("Next") + " »",
                callback_data=PeoplePage(page=page + 1, kind=kind, value=value).pack(),
            )
        )
    return InlineKeyboardMarkup(inline_keyboard=[navigation]) if navigation else None
