"""How ``/hours`` looks: a mentor's weekly hours and days off in their own zone, the buttons
to change or clear them, and what is wrong with hours that could not be read."""

from __future__ import annotations

import html
from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.office_hours import DaysOff, HoursError, Problem, WeeklyHours, clock
from bot.views.dates import weekday_names, zone_text

DETAIL_LIMIT = 40


class HoursAction(CallbackData, prefix="oh"):
    action: str  # "change", "clear" or "clear_off"


def usage() -> str:
    return _(
        "Set your weekly hours in your own time zone, with an optional slot length "
        "(30 minutes unless you say):\n"
        "<code>/hours Mon 18:00-20:00, Thu 10:00-12:00</code>\n"
        "<code>/hours Mon-Fri 9-11 45m</code>\n"
        "Days off: <code>/hours off 01.05-10.05</code>"
    )


def hours_text(hours: WeeklyHours | None, off: Sequence[DaysOff], zone: str) -> str:
    if hours is None:
        text = _("You have no office hours yet.")
    else:
        names = weekday_names()
        lines = [f"• {names[s.weekday]} {clock(s.start)}–{clock(s.end)}" for s in hours.stretches]
        minutes = int(hours.slot.total_seconds() // 60)
        text = (
            _("Your office hours ({zone}), slots of {minutes} min:").format(
                zone=zone_text(zone), minutes=minutes
            )
            + "\n"
            + "\n".join(lines)
        )
    if off:
        shown = ", ".join(
            f"{o.first:%d.%m.%Y}" if o.first == o.last else f"{o.first:%d.%m}–{o.last:%d.%m.%Y}"
            for o in off
        )
        text += "\n" + _("Days off: {days}.").format(days=shown)
    return text


def hours_keyboard(hours: WeeklyHours | None, off: Sequence[DaysOff]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Change") if hours else _("Set hours"), callback_data=HoursAction(action="change")
    )
    if hours:
        builder.button(text=_("Clear hours"), callback_data=HoursAction(action="clear"))
    if off:
        builder.button(text=_("Clear days off"), callback_data=HoursAction(action="clear_off"))
    builder.adjust(1)
    return builder.as_markup()


def problem_text(error: HoursError) -> str:
    detail = html.escape(error.detail[:DETAIL_LIMIT])
    texts = {
        Problem.empty: _("Say which days and hours."),
        Problem.unknown_weekday: _("I do not know the weekday «{detail}»."),
        Problem.bad_time: _("I cannot read the hours in «{detail}»: write them as 18:00-20:00."),
        Problem.inverted: _("«{detail}» ends before it starts."),
        Problem.overlapping: _("These hours overlap: {detail}."),
        Problem.bad_slot: _("A slot lasts from 10 minutes to 4 hours, not «{detail}»."),
        Problem.slot_too_long: _("The slot is longer than the hours {detail}."),
        Problem.too_many: _("That is too many stretches in a week ({detail}); 28 at most."),
        Problem.bad_date: _(
            "I cannot read the date in «{detail}»: write it as 01.05 or 01.05.2027."
        ),
        Problem.past: _("Those days are already over: {detail}."),
        Problem.too_long_off: _("Days off last 92 days at most: {detail}."),
    }
    return texts[error.problem].format(detail=detail) + "\n\n" + _("Nothing was changed.")
