"""``/hours``: a mentor's weekly office hours and days off, in the mentor's own zone."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import office_hours
from bot.domain.access import Actor
from bot.domain.office_hours import HoursError
from bot.telegram.replies import Replies
from bot.time.zones import zone
from bot.views.office_hours import (
    HoursAction,
    hours_keyboard,
    hours_text,
    problem_text,
    usage,
)
from handlers.common import command_for, invalid_button, zone_of
from models import RoleKind

OFF_WORDS = frozenset({"off", "выходные", "выходной", "отпуск", "wolne", "urlop"})
CLEAR_WORDS = frozenset({"clear", "очистить", "удалить", "wyczyść", "wyczysc"})


def router() -> Router:
    router = Router(name="hours")
    command_for(router, "hours", set_or_show_hours)
    router.callback_query.register(hours_button, HoursAction.filter())
    router.callback_query.register(
        invalid_button,
        F.data.func(lambda data: str(data).split(":", 1)[0] == HoursAction.__prefix__),
    )
    return router


async def _show(
    session: AsyncSession, actor: Actor, settings: Settings, now: datetime, lead: str = ""
) -> tuple[str, InlineKeyboardMarkup]:
    zone_name = zone_of(actor, settings)
    today = now.astimezone(zone(zone_name)).date()
    hours = await office_hours.hours_of(session, actor.person)
    off = await office_hours.days_off_of(session, actor.person, today)
    text = hours_text(hours, off, zone_name)
    return (f"{lead}\n\n{text}" if lead else text), hours_keyboard(hours, off)


async def set_or_show_hours(
    message: Message,
    outbox: Replies,
    session: AsyncSession,
    command: CommandObject,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    if not actor.has(RoleKind.mentor):
        await outbox.answer(message, _("Office hours are for mentors."))
        return
    args = (command.args or "").strip()
    head, _sep, rest = args.partition(" ")
    lead = ""
    try:
        if head.lower() in OFF_WORDS:
            today = now.astimezone(zone(zone_of(actor, settings))).date()
            days = office_hours.parse_days_off(rest, today)
            await office_hours.add_days_off(session, actor.person, days, now)
            lead = _("Days off noted.")
        elif args.lower() in CLEAR_WORDS:
            await office_hours.clear_hours(session, actor.person)
            lead = _("Your office hours are cleared.")
        elif args:
            hours = office_hours.parse_hours(args)
            await office_hours.set_hours(session, actor.person, hours, now)
            lead = _("Office hours saved.")
    except HoursError as error:
        await outbox.answer(message, problem_text(error) + "\n\n" + usage())
        return
    text, keyboard = await _show(session, actor, settings, now, lead)
    if not args:
        text += "\n\n" + usage()
    await outbox.answer(message, text, reply_markup=keyboard)


async def hours_button(
    query: CallbackQuery,
    outbox: Replies,
    session: AsyncSession,
    callback_data: HoursAction,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    if not actor.has(RoleKind.mentor) or callback_data.action not in (
        "change",
        "clear",
        "clear_off",
    ):
        await outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    if callback_data.action == "change":
        await outbox.callback(query)
        if isinstance(query.message, Message):
            await outbox.answer(query.message, usage())
        return
    if callback_data.action == "clear":
        await office_hours.clear_hours(session, actor.person)
        lead = _("Your office hours are cleared.")
    else:
        await office_hours.clear_days_off(session, actor.person)
        lead = _("Your days off are cleared.")
    await outbox.callback(query, lead)
    if isinstance(query.message, Message):
        text, keyboard = await _show(session, actor, settings, now)
        await outbox.edit_message(query.message, text, reply_markup=keyboard)
