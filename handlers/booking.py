"""Booking a consultation: «Book a consultation» under a ticket, a day, a time, done.

The button is on the message telling the author a mentor took the request, and on
``/ticket N`` for its author. Days and times are shown in private, in the author's zone; every
press loads the ticket again and checks that the presser is its author.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.domain import booking, meetings, tickets
from bot.domain.booking import AlreadyBooked, NotASlot, NotBookable, NotOver, Offer, SlotTaken
from bot.domain.errors import DomainError, NotAllowed
from bot.news.tickets import TicketNews
from bot.timezones import zone
from bot.views.booking import (
    BookDay,
    BookSlot,
    BookStart,
    already_booked_text,
    booked_text,
    days_keyboard,
    days_text,
    times_keyboard,
    times_text,
)
from handlers.common import invalid_button, parse_number, zone_of
from handlers.mentors import claimed
from handlers.schedule import Tools, tools
from models import Person, Ticket


def router() -> Router:
    router = Router(name="booking")
    router.message.register(no_show, Command("noshow"))
    router.callback_query.register(start_booking, BookStart.filter())
    router.callback_query.register(day_chosen, BookDay.filter())
    router.callback_query.register(slot_chosen, BookSlot.filter())
    # Data of these buttons that does not parse (forged, or from an old version).
    prefixes = {BookStart.__prefix__, BookDay.__prefix__, BookSlot.__prefix__}
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
    if ticket is None or not booking.may_book(t.actor, ticket):
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
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
        ticket.id, existing.starts_at, zone_of(t.actor, t.settings), t.actor.language
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
    markup = days_keyboard(ticket.id, offers, zone_name)
    message = query.message if isinstance(query.message, Message) else None
    if message is not None and message.chat.type == "private":
        await t.outbox.callback(query)
        if _is_picker(message):  # «« Other days» on the picker itself: shown in place
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
        (button.callback_data or "").startswith(
            (f"{BookDay.__prefix__}:", f"{BookSlot.__prefix__}:")
        )
        for row in rows
        for button in row
    )


async def day_chosen(query: CallbackQuery, callback_data: BookDay, **data: Any) -> None:
    t = tools(data)
    ticket = await _ticket(t, query, callback_data.ticket)
    if ticket is None or await _already(t, query, ticket):
        return
    try:
        day = date.fromordinal(callback_data.day)
    except (ValueError, OverflowError):
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    await t.outbox.callback(query)
    await _show_times(t, query, ticket, day)


async def _show_times(t: Tools, query: CallbackQuery, ticket: Ticket, day: date) -> None:
    if not isinstance(query.message, Message):
        return
    zone_name = zone_of(t.actor, t.settings)
    offers = await _offers(t, ticket)
    await t.outbox.edit_message(
        query.message,
        times_text(ticket.id, day, zone_name),
        reply_markup=times_keyboard(ticket.id, offers, day, zone_name),
    )


async def slot_chosen(query: CallbackQuery, callback_data: BookSlot, **data: Any) -> None:
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
            ticket.id, already.booking.starts_at, zone_name, t.actor.language
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
        )  # fmt: skip
    if took:
        news = TicketNews(t.session, t.outbox, t.i18n, t.settings, t.now)
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
