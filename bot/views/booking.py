"""How booking a consultation looks: the days with free slots, then their times, in the
activist's own zone; and what the activist hears when the booking is made, moved or refused.

Booking (for a request) and moving (a booking) show the same picker; only its buttons differ.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.booking import Offer
from bot.time.zones import zone
from bot.views.dates import date_label, day_label, zone_text
from bot.views.meetings import local_time

NAME_LIMIT = 24


class BookStart(CallbackData, prefix="bk"):
    ticket: int


class BookDay(CallbackData, prefix="bd"):
    ticket: int
    day: int  # date.toordinal() in the activist's zone


class BookSlot(CallbackData, prefix="bs"):
    ticket: int
    mentor: int
    at: int  # minutes since the epoch (UTC)


class MoveStart(CallbackData, prefix="bm"):
    booking: int


class MoveDay(CallbackData, prefix="bmd"):
    booking: int
    day: int  # date.toordinal() in the activist's zone


class MoveSlot(CallbackData, prefix="bmt"):
    booking: int
    at: int  # minutes since the epoch (UTC)


@dataclass(frozen=True)
class PickerButtons:
    """The callback data of one picker: booking for a request, or moving a booking."""

    start: CallbackData  # back to the days
    day: Callable[[date], CallbackData]
    slot: Callable[[int, datetime], CallbackData]  # a mentor's id and a slot's start


def booking_buttons(ticket_id: int) -> PickerButtons:
    return PickerButtons(
        start=BookStart(ticket=ticket_id),
        day=lambda day: BookDay(ticket=ticket_id, day=day.toordinal()),
        slot=lambda mentor, at: BookSlot(ticket=ticket_id, mentor=mentor, at=slot_minutes(at)),
    )


def move_buttons(booking_id: int) -> PickerButtons:
    return PickerButtons(
        start=MoveStart(booking=booking_id),
        day=lambda day: MoveDay(booking=booking_id, day=day.toordinal()),
        slot=lambda _mentor, at: MoveSlot(booking=booking_id, at=slot_minutes(at)),
    )


PICKER_PREFIXES = frozenset(
    {BookDay.__prefix__, BookSlot.__prefix__, MoveStart.__prefix__, MoveDay.__prefix__,
     MoveSlot.__prefix__}
)  # fmt: skip


def book_button(ticket_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Book a consultation"), callback_data=BookStart(ticket=ticket_id))
    return builder.as_markup()


def slot_minutes(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def _days(offers: Sequence[Offer], zone_name: str) -> list[date]:
    here = zone(zone_name)
    return sorted({s.starts.astimezone(here).date() for o in offers for s in o.slots})


def days_text(ticket_id: int, offers: Sequence[Offer], zone_name: str) -> str:
    if not offers:
        return _(
            "No free consultation times for request #{n} in the next two weeks. The mentor "
            "will answer here in writing; you can look again later."
        ).format(n=ticket_id)
    return _("Choose a day for a consultation on request #{n} (times in {zone}):").format(
        n=ticket_id, zone=zone_text(zone_name)
    )


def days_keyboard(
    offers: Sequence[Offer], zone_name: str, buttons: PickerButtons
) -> InlineKeyboardMarkup | None:
    days = _days(offers, zone_name)
    if not days:
        return None
    builder = InlineKeyboardBuilder()
    for day in days:
        builder.button(
            text=day_label(day),
            callback_data=buttons.day(day),
        )
    builder.adjust(3)
    return builder.as_markup()


def times_text(ticket_id: int, day: date, zone_name: str) -> str:
    return _("Free times on {day} ({zone}) for request #{n}:").format(
        day=date_label(day),
        zone=zone_text(zone_name),
        n=ticket_id,
    )


def times_keyboard(
    offers: Sequence[Offer], day: date, zone_name: str, buttons: PickerButtons
) -> InlineKeyboardMarkup:
    here = zone(zone_name)
    several = len(offers) > 1
    choices = sorted(
        (s.starts, o.mentor.id, o.mentor.display_name)
        for o in offers
        for s in o.slots
        if s.starts.astimezone(here).date() == day
    )
    builder = InlineKeyboardBuilder()
    for starts, mentor_id, mentor_name in choices:
        label = f"{starts.astimezone(here):%H:%M}"
        if several:
            label += f" · {mentor_name[:NAME_LIMIT]}"
        builder.button(
            text=label,
            callback_data=buttons.slot(mentor_id, starts),
        )
    builder.adjust(2 if several else 4)
    back = InlineKeyboardBuilder()
    back.button(text=_("« Other days"), callback_data=buttons.start)
    builder.attach(back)
    return builder.as_markup()


def booked_text(
    ticket_id: int, meeting_id: int, starts_at: datetime, zone_name: str, language: str, mentor: str
) -> str:
    return _(
        "✅ Booked: a consultation with {mentor} on request #{n}, {when}. The invitation with "
        "the video link and the .ics is below; reminders will come. Meeting #{meeting}."
    ).format(
        mentor=html.escape(mentor),
        n=ticket_id,
        when=local_time(starts_at, zone_name, language),
        meeting=meeting_id,
    )


def already_booked_text(
    ticket_id: int, meeting_id: int | None, starts_at: datetime, zone_name: str, language: str
) -> str:
    text = _("Request #{n} already has a consultation booked: {when}.").format(
        n=ticket_id, when=local_time(starts_at, zone_name, language)
    )
    if meeting_id is None:
        return text
    return text + " " + _("To move it: /reschedule {meeting}").format(meeting=meeting_id)


def move_button(booking_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Move"), callback_data=MoveStart(booking=booking_id))
    return builder.as_markup()


def move_days_text(
    ticket_id: int,
    starts_at: datetime,
    offers: Sequence[Offer],
    zone_name: str,
    language: str,
    meeting_id: int | None,
) -> str:
    now_at = local_time(starts_at, zone_name, language)
    if not offers:
        return _(
            "The mentor has no other free times in the next two weeks; your consultation on "
            "request #{n} stays at {when}. To call it off: /cancel_meeting {meeting}."
        ).format(n=ticket_id, when=now_at, meeting=meeting_id)
    return _(
        "Moving the consultation on request #{n} (now {when}). Choose a new day (times in {zone}):"
    ).format(n=ticket_id, when=now_at, zone=zone_text(zone_name, starts_at))


def moved_text(
    ticket_id: int, meeting_id: int, starts_at: datetime, zone_name: str, language: str, mentor: str
) -> str:
    return _(
        "✅ Moved: the consultation with {mentor} on request #{n} is now {when}. {mentor} is "
        "told; the new .ics is below, and the reminders moved with it. Meeting #{meeting}."
    ).format(
        mentor=html.escape(mentor),
        n=ticket_id,
        when=local_time(starts_at, zone_name, language),
        meeting=meeting_id,
    )
