"""A person's data: ``/mydata`` sends what is kept about them; ``/forget`` erases it, asked by
the person, or by a coordinator of their programmes (or an admin) for a person who asked
another way. Both in private only."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import erasure, mydata
from bot.domain.access import Actor
from bot.news.meetings import MeetingNews
from bot.news.tickets import TicketNews
from bot.telegram.replies import Replies
from bot.views.privacy import ForgetChoice, forget_keyboard, forget_question, mydata_file
from bot.views.tickets import number
from handlers.common import IN_PRIVATE, command_for
from models import Person, RoleKind, Ticket

# What a coordinator may name a person by: @username (Telegram's letters) or a Telegram id.
HANDLE = re.compile(r"^(@?[A-Za-z][A-Za-z0-9_]{3,31}|\d{1,15})$")


def router() -> Router:
    router = Router(name="privacy")
    command_for(router, "mydata", send_my_data, IN_PRIVATE)
    command_for(router, "forget", ask_to_forget, IN_PRIVATE)
    router.callback_query.register(forget_pressed, ForgetChoice.filter())
    return router


async def send_my_data(
    message: Message, outbox: Replies, session: AsyncSession, actor: Actor
) -> None:
    kept = await mydata.kept_about(session, actor.person)
    await outbox.answer_file(message, mydata_file(kept), caption=_("What the bot keeps about you."))


def _usage() -> str:
    return _(
        "Usage: /forget to erase everything about you; a coordinator: /forget @username "
        "or /forget 123456789 (a Telegram id) for a person of their programmes."
    )


async def ask_to_forget(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
) -> None:
    handle = (command.args or "").strip()
    if not handle:
        count = await erasure.requests_of(session, actor.person)
        await outbox.answer(
            message,
            forget_question(count),
            reply_markup=forget_keyboard(actor.person.id, self_asked=True),
        )
        return
    if not HANDLE.match(handle):
        await outbox.answer(message, _usage())
        return
    if not (actor.is_admin or actor.programmes(RoleKind.coordinator)):
        await outbox.answer(message, _("Only coordinators erase another person's data."))
        return
    person = await erasure.find_person(session, handle)
    if person is None or not await erasure.may_forget(session, actor, person):
        # One answer for both: a coordinator learns nothing of people outside their programmes.
        await outbox.answer(message, _("Nobody of your programmes is known by {handle}.").format(
            handle=html.escape(handle)
        ))  # fmt: skip
        return
    count = await erasure.requests_of(session, person)
    await outbox.answer(
        message,
        forget_question(count, who=html.escape(handle)),
        reply_markup=forget_keyboard(person.id, self_asked=person.id == actor.person.id),
    )


async def forget_pressed(
    query: CallbackQuery,
    outbox: Replies,
    callback_data: ForgetChoice,
    session: AsyncSession,
    actor: Actor,
    news: TicketNews,
    state: FSMContext,
    now: datetime,
) -> None:
    person = await session.get(Person, callback_data.person)
    if person is None or not await erasure.may_forget(session, actor, person):
        await outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    message = query.message if isinstance(query.message, Message) else None
    if not callback_data.yes:
        await outbox.callback(query, _("Nothing was erased."))
        if message is not None:
            await outbox.edit_message(message, _("Nothing was erased."))
        return
    if person.erased_at is not None and person.first_name == erasure.ERASED:
        await outbox.callback(query, _("Already erased."))
        return
    themselves = person.id == actor.person.id
    done = await forget(news, person, now, by=None if themselves else actor.person)
    # A dialogue half-way through in their private chat (a /new draft) holds their words
    # too: it ends with the erasure (the storage is written after the commit).
    dialogue = StorageKey(state.key.bot_id, person.telegram_id, person.telegram_id)
    await state.storage.set_state(dialogue, None)
    await state.storage.set_data(dialogue, {})
    await outbox.callback(query, _("Erased."))
    if message is not None:
        await outbox.edit_message(message, done)
    if not themselves:
        await news.tell_person(
            person, lambda _language: _("At your request, everything about you was erased.")
        )


async def forget(news: TicketNews, person: Person, now: datetime, *, by: Person | None) -> str:
    """Erase the person; the mentors' messages quoting them are edited, the mentors of their
    withdrawn requests told, and the other side of each consultation cancelled. Returns what
    the one who asked reads."""
    done = await erasure.forget_person(news.session, person, now, by=by)
    for ticket in done.requests:
        await news.erased(ticket)
    for ticket in done.withdrawn:
        if ticket.assignee_id is not None:
            await news.tell_person(await news.person(ticket.assignee_id), _withdrawn(ticket))
    if done.cancelled:
        calls = MeetingNews(news.session, news.outbox, news.i18n, news.settings, now)
        for meeting in done.cancelled:  # said after the erasure: no text names the person
            await calls.announce_cancelled(meeting, None)
    return _("Erased: names, the texts of {count} requests, messages and files.").format(
        count=len(done.requests)
    )


def _withdrawn(ticket: Ticket) -> Callable[[str], str]:
    def render(_language: str) -> str:
        return _("Request {number} was withdrawn: its author asked to erase their data.").format(
            number=number(ticket)
        )

    return render
