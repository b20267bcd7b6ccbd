"""Booking a consultation: «Book a consultation» under a ticket, a day, a time, done; and
moving it: «Move» under the booking, or ``/reschedule N``, then a day and a time again.

The button is on the message telling the author a mentor took the request, and on
``/ticket N`` for its author. Days and times are shown in private, in the author's zone; every
press loads the ticket (or the booking) again and checks that the presser is its author. The
mentor moves a consultation with ``/reschedule N date time`` (``handlers.schedule``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import booking, meetings, tickets
from bot.domain.access import Actor
from bot.domain.booking import (
    AlreadyBooked,
    NotASlot,
    NotBookable,
    NotMovable,
    NotOver,
    Offer,
    SlotTaken,
)
from bot.domain.errors import DomainError, NotAllowed
from bot.domain.schedule_parser import ScheduleError, TitleRule, parse_schedule
from bot.news.tickets import TicketNews
from bot.time.zones import zone
from bot.views.booking import (
    PICKER_PREFIXES,
    BookDay,
    BookSlot,
    BookStart,
    MoveDay,
    MoveSlot,
    MoveStart,
    PickerButtons,
    already_booked_text,
    booked_text,
    booking_buttons,
    days_keyboard,
    days_text,
    move_button,
    move_buttons,
    move_days_text,
    moved_text,
    times_keyboard,
    times_text,
)
from bot.views.meetings import problem_reason
from handlers.common import invalid_button, parse_number, zone_of
from handlers.mentors import claimed
from handlers.schedule import Tools, tools
from models import Booking, Meeting, Person, Ticket


def router() -> Router:
    router = Router(name="booking")
    router.message.register(no_show, Command("noshow"))
    # Before the schedule router: «/reschedule N» of a consultation the sender booked.
    router.message.register(move_command, Command("reschedule"), OwnConsultation())
    router.callback_query.register(start_booking, BookStart.filter())
    router.callback_query.register(day_chosen, BookDay.filter())
    router.callback_query.register(slot_chosen, BookSlot.filter())
    router.callback_query.register(start_moving, MoveStart.filter())
    router.callback_query.register(move_day_chosen, MoveDay.filter())
    router.callback_query.register(move_slot_chosen, MoveSlot.filter())
    # Data of these buttons that does not parse (forged, or from an old version).
    prefixes = {BookStart.__prefix__, *PICKER_PREFIXES}
    router.callback_query.register(
        invalid_button, F.data.func(lambda data: str(data).split(":", 1)[0] in prefixes)
    )
    return router


async def _ticket(t: Tools, query: CallbackQuery, number: int) -> Ticket | None:
    """The ticket, if the presser is its author and it can still be booked; else they hear why."""
    try:
        ticket = await tickets.get_ticket(t.session, number)
    except DomainError:
        ticket = None
    if ticket is None:
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return None
    if not booking.may_book(t.actor, ticket):
        await t.outbox.callback(
            query, _("Only the author of the request can press this button."), show_alert=True
        )
        return None
    if ticket.status not in booking.BOOKABLE:
        await t.outbox.callback(
            query,
            _("Request #{n} is closed: no consultation can be booked for it.").format(n=number),
            show_alert=True,
        )
        return None
    return ticket


async def _offers(t: Tools, ticket: Ticket) -> list[Offer]:
    return await booking.offers(
        t.session,
        ticket,
        now=t.now,
        capacity=t.settings.mentor_capacity,
        default_zone=t.settings.default_timezone,
    )


async def _already(t: Tools, query: CallbackQuery, ticket: Ticket) -> bool:
    existing = await booking.upcoming_booking(t.session, ticket, t.now)
    if existing is None:
        return False
    text = already_booked_text(
        ticket.id,
        existing.meeting_id,
        existing.starts_at,
        zone_of(t.actor, t.settings),
        t.actor.language,
    )
    await t.outbox.callback(query, text, show_alert=True)
    return True


async def start_booking(query: CallbackQuery, callback_data: BookStart, **data: Any) -> None:
    t = tools(data)
    ticket = await _ticket(t, query, callback_data.ticket)
    if ticket is None or await _already(t, query, ticket):
        return
    zone_name = zone_of(t.actor, t.settings)
    offers = await _offers(t, ticket)
    text = days_text(ticket.id, offers, zone_name)
    markup = days_keyboard(offers, zone_name, booking_buttons(ticket.id))
    await _show_days(t, query, text, markup)


async def _show_days(
    t: Tools, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """The days: in place on the picker itself, as a new message under another message in
    private, and in private when the button was pressed in a group."""
    message = query.message if isinstance(query.message, Message) else None
    if message is not None and message.chat.type == "private":
        await t.outbox.callback(query)
        if _is_picker(message):  # «« Other days», or «Move» under a booking: shown in place
            await t.outbox.edit_message(message, text, reply_markup=markup)
        else:  # on the ticket's view
            await t.outbox.answer(message, text, reply_markup=markup)
        return
    # Pressed in the group: the times go to the author's private chat.
    if not t.actor.person.private_chat_open:
        await t.outbox.callback(
            query,
            _("Open a private chat with me first (press Start there), then press again."),
            show_alert=True,
        )
        return
    await t.outbox.send(t.actor.person.telegram_id, text, markup=markup, purpose="booking")
    await t.outbox.callback(query, _("I sent you the free times in private."))


def _is_picker(message: Message) -> bool:
    rows = message.reply_markup.inline_keyboard if message.reply_markup else []
    return any(
        (button.callback_data or "").split(":", 1)[0] in PICKER_PREFIXES
        for row in rows
        for button in row
    )


async def day_chosen(query: CallbackQuery, callback_data: BookDay, **data: Any) -> None:
    t = tools(data)
    ticket = await _ticket(t, query, callback_data.ticket)
    if ticket is None or await _already(t, query, ticket):
        return
    day = await _day_pressed(t, query, callback_data.day)
    if day is None:
        return
    await t.outbox.callback(query)
    await _show_times(t, query, ticket, day)


async def _day_pressed(t: Tools, query: CallbackQuery, ordinal: int) -> date | None:
    """The day a button names; a forged one is answered and gives None."""
    try:
        return date.fromordinal(ordinal)
    except (ValueError, OverflowError):
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return None


async def _show_times(t: Tools, query: CallbackQuery, ticket: Ticket, day: date) -> None:
    await _edit_times(
        t, query, ticket.id, day, await _offers(t, ticket), booking_buttons(ticket.id)
    )


async def _edit_times(
    t: Tools,
    query: CallbackQuery,
    ticket_id: int,
    day: date,
    offers: list[Offer],
    buttons: PickerButtons,
) -> None:
    if not isinstance(query.message, Message):
        return
    zone_name = zone_of(t.actor, t.settings)
    await t.outbox.edit_message(
        query.message,
        times_text(ticket_id, day, zone_name),
        reply_markup=times_keyboard(offers, day, zone_name, buttons),
    )


async def slot_chosen(
    query: CallbackQuery, callback_data: BookSlot, news: TicketNews, **data: Any
) -> None:
    t = tools(data)
    ticket = await _ticket(t, query, callback_data.ticket)
    if ticket is None:
        return
    zone_name = zone_of(t.actor, t.settings)
    try:
        starts_at = datetime.fromtimestamp(callback_data.at * 60, UTC)
    except (ValueError, OverflowError, OSError):
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    try:
        made, meeting, took = await booking.book(
            t.session,
            t.actor,
            ticket,
            callback_data.mentor,
            starts_at,
            now=t.now,
            capacity=t.settings.mentor_capacity,
            default_zone=t.settings.default_timezone,
            title=_("Consultation on request #{n}").format(n=ticket.id),
            offsets=t.settings.reminder_offsets,
            video_base_url=t.settings.video_base_url,
        )
    except AlreadyBooked as already:
        text = already_booked_text(
            ticket.id,
            already.booking.meeting_id,
            already.booking.starts_at,
            zone_name,
            t.actor.language,
        )
        await t.outbox.callback(query, text, show_alert=True)
        return
    except (SlotTaken, NotASlot) as lost:
        taken = isinstance(lost, SlotTaken)
        await t.outbox.callback(
            query,
            _("Somebody has just booked this time. Here is what is still free.")
            if taken
            else _("This time is no longer free. Here is what is."),
            show_alert=True,
        )
        await _show_times(t, query, ticket, starts_at.astimezone(zone(zone_name)).date())
        return
    except (NotBookable, NotAllowed, tickets.AlreadyTaken, tickets.OverCapacity):
        await t.outbox.callback(
            query, _("This mentor can no longer take your request."), show_alert=True
        )
        return
    mentor = await t.session.get(Person, made.mentor_id)
    assert mentor is not None
    await t.outbox.callback(query, _("Booked."))
    if isinstance(query.message, Message):
        await t.outbox.edit_message(
            query.message,
            booked_text(
                ticket.id, meeting.id, made.starts_at, zone_name, t.actor.language,
                mentor.display_name,
            ),
            reply_markup=move_button(made.id),
        )  # fmt: skip
    if took:
        await claimed(ticket, mentor, news, pressed_on=None, booked=True)
    await t.news().announce(meeting)
    t.runner.plan_after_commit(t.session, await meetings.pending_of(t.session, meeting.id))


async def no_show(message: Message, command: CommandObject, **data: Any) -> None:
    """``/noshow N``: the activist did not come to booked consultation N (a meeting number)."""
    t = tools(data)
    number, _rest = parse_number(command.args)
    if number is None:
        await t.outbox.answer(
            message, _("Write the consultation's meeting number: /noshow 7 (see /meetings).")
        )
        return
    try:
        await booking.mark_no_show(t.session, t.actor, number, t.now)
    except NotOver:
        await t.outbox.answer(message, _("Consultation #{n} has not ended yet.").format(n=number))
        return
    except (NotAllowed, NotBookable):
        await t.outbox.answer(
            message,
            _("Only the mentor of booked consultation #{n} can mark a no-show.").format(n=number),
        )
        return
    await t.outbox.answer(message, _("Noted: nobody came to consultation #{n}.").format(n=number))


# --- the activist moves a booking ------------------------------------------------------------


async def _movable(
    t: Tools, query: CallbackQuery, booking_id: int
) -> tuple[Booking, Meeting] | None:
    """The presser's booking, if it can still be moved; else they hear why."""
    try:
        return await booking.movable_booking(t.session, t.actor, booking_id, t.now)
    except NotMovable:
        await t.outbox.callback(query, _cannot_move(), show_alert=True)
    except DomainError:
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
    return None


def _cannot_move() -> str:
    return _("This consultation has begun or was cancelled, so it cannot be moved.")


async def _move_offers(t: Tools, found: Booking) -> list[Offer]:
    return await booking.move_offers(
        t.session, found, now=t.now, default_zone=t.settings.default_timezone
    )


async def _move_days(t: Tools, found: Booking) -> tuple[str, InlineKeyboardMarkup | None]:
    zone_name = zone_of(t.actor, t.settings)
    offers = await _move_offers(t, found)
    text = move_days_text(
        found.ticket_id, found.starts_at, offers, zone_name, t.actor.language, found.meeting_id
    )
    return text, days_keyboard(offers, zone_name, move_buttons(found.id))


async def start_moving(query: CallbackQuery, callback_data: MoveStart, **data: Any) -> None:
    t = tools(data)
    movable = await _movable(t, query, callback_data.booking)
    if movable is None:
        return
    await _show_days(t, query, *await _move_days(t, movable[0]))


async def move_day_chosen(query: CallbackQuery, callback_data: MoveDay, **data: Any) -> None:
    t = tools(data)
    movable = await _movable(t, query, callback_data.booking)
    if movable is None:
        return
    day = await _day_pressed(t, query, callback_data.day)
    if day is None:
        return
    found = movable[0]
    await t.outbox.callback(query)
    offers = await _move_offers(t, found)
    await _edit_times(t, query, found.ticket_id, day, offers, move_buttons(found.id))


async def move_slot_chosen(query: CallbackQuery, callback_data: MoveSlot, **data: Any) -> None:
    t = tools(data)
    try:
        starts_at = datetime.fromtimestamp(callback_data.at * 60, UTC)
    except (ValueError, OverflowError, OSError):
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    try:
        moved = await booking.move(
            t.session, t.actor, callback_data.booking, starts_at,
            now=t.now, default_zone=t.settings.default_timezone,
        )  # fmt: skip
    except NotMovable:
        await t.outbox.callback(query, _cannot_move(), show_alert=True)
        return
    except (SlotTaken, NotASlot) as lost:
        await t.outbox.callback(query, _lost_text(lost), show_alert=True)
        found = await t.session.get(Booking, callback_data.booking)
        if found is not None:
            day = starts_at.astimezone(zone(zone_of(t.actor, t.settings))).date()
            offers = await _move_offers(t, found)
            await _edit_times(t, query, found.ticket_id, day, offers, move_buttons(found.id))
        return
    except DomainError:
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    await t.outbox.callback(query, _("Moved."))
    if isinstance(query.message, Message):
        text, markup = await _moved(t, moved)
        await t.outbox.edit_message(query.message, text, reply_markup=markup)


def _lost_text(lost: DomainError) -> str:
    if isinstance(lost, SlotTaken):
        return _("Somebody has just booked this time. Here is what is still free.")
    return _("This time is no longer free. Here is what is.")


async def _moved(t: Tools, moved: booking.Move) -> tuple[str, InlineKeyboardMarkup]:
    """Tell both sides (the mentor through the meeting's news), plan the reminders; the text
    for the activist."""
    await t.news().announce_moved(moved.meeting, moved.previous, t.actor.person)
    t.runner.plan_after_commit(
        t.session, moved.reminders, drop=[reminder.id for reminder in moved.reminders]
    )
    mentor = await t.session.get(Person, moved.booking.mentor_id)
    text = moved_text(
        moved.booking.ticket_id,
        moved.meeting.id,
        moved.booking.starts_at,
        zone_of(t.actor, t.settings),
        t.actor.language,
        mentor.display_name if mentor is not None else "—",
    )
    return text, move_button(moved.booking.id)


class OwnConsultation(Filter):
    """``/reschedule N`` where meeting N is a consultation the sender booked and does not
    manage (its mentor and the programme's coordinators reschedule it freely); gives the
    handler ``consultation`` and the rest of the command, ``when``."""

    async def __call__(
        self, message: Message, command: CommandObject, session: AsyncSession, actor: Actor
    ) -> bool | dict[str, Any]:
        number, rest = parse_number(command.args)
        if number is None:
            return False
        found = await booking.booking_of_meeting(session, number)
        if found is None or not booking.may_move(actor, found):
            return False
        meeting = await session.get(Meeting, number)
        if meeting is None or meetings.may_manage(actor, meeting):
            return False
        return {"consultation": found, "when": rest}


async def move_command(message: Message, consultation: Booking, when: str, **data: Any) -> None:
    """``/reschedule N [date time]`` by the activist: the free times to choose from, or the
    move to the time written, if it is one of them."""
    t = tools(data)
    try:
        await booking.movable_booking(t.session, t.actor, consultation.id, t.now)
    except DomainError:
        await t.outbox.answer(message, _cannot_move())
        return
    if not when:
        text, markup = await _move_days(t, consultation)
        await t.outbox.answer(message, text, reply_markup=markup)
        return
    try:
        request = parse_schedule(
            when, now=t.now, default_zone=zone_of(t.actor, t.settings), title=TitleRule.none
        )
        moved = await booking.move(
            t.session, t.actor, consultation.id, request.starts_at,
            now=t.now, default_zone=t.settings.default_timezone,
        )  # fmt: skip
    except (ScheduleError, SlotTaken, NotASlot) as refused:
        if isinstance(refused, ScheduleError):
            lead = problem_reason(refused)
        elif isinstance(refused, SlotTaken):
            lead = _("Somebody has just booked this time.")
        else:
            lead = _("That is not one of the mentor's free times.")
        found = await t.session.get(Booking, consultation.id)
        assert found is not None
        text, markup = await _move_days(t, found)
        await t.outbox.answer(message, f"{lead}\n\n{text}", reply_markup=markup)
        return
    except DomainError:
        await t.outbox.answer(message, _cannot_move())
        return
    text, markup = await _moved(t, moved)
    await t.outbox.answer(message, text, reply_markup=markup)
