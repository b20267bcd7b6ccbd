"""A person's own settings: ``/lang`` and ``/tz``."""

from __future__ import annotations

import html

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.domain.access import Actor
from bot.domain.people import set_language, set_timezone
from bot.languages import LANGUAGE_NAMES, LANGUAGES
from bot.telegram.replies import Replies
from bot.time.zones import UnknownZoneError, normalize_zone
from bot.views.dates import zone_text
from bot.views.meetings import zone_examples
from bot.views.people import LanguageChoice, language_keyboard
from models import GroupChat


def router() -> Router:
    router = Router(name="people")
    router.message.register(choose_language, Command("lang"))
    router.callback_query.register(language_chosen, LanguageChoice.filter())
    router.message.register(time_zone, Command("tz"))
    return router


async def choose_language(
    message: Message, outbox: Replies, command: CommandObject, actor: Actor, i18n: I18n
) -> None:
    code = (command.args or "").strip().lower()
    # "/lang polski" means what "/lang pl" does.
    code = {name.lower(): known for known, name in LANGUAGE_NAMES.items()}.get(code, code)
    if not code:
        await outbox.answer(message, _("Choose your language:"), reply_markup=language_keyboard())
        return
    if code not in LANGUAGES:
        await outbox.answer(
            message,
            _("Unknown language «{code}». Available: {languages}.").format(
                code=html.escape(code[:20]), languages=", ".join(LANGUAGES)
            ),
        )
        return
    set_language(actor.person, code)
    with i18n.use_locale(code):
        await outbox.answer(message, _("Language set: English."))


async def language_chosen(
    query: CallbackQuery, outbox: Replies, callback_data: LanguageChoice, actor: Actor, i18n: I18n
) -> None:
    if callback_data.code not in LANGUAGES:
        await outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    set_language(actor.person, callback_data.code)
    with i18n.use_locale(callback_data.code):
        await outbox.callback(query, _("Language set: English."))
        if isinstance(query.message, Message):
            await outbox.edit_message(query.message, _("Language set: English."))


async def time_zone(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    actor: Actor,
    settings: Settings,
    group: GroupChat | None = None,
) -> None:
    text = (command.args or "").strip()
    for_group = (
        group is not None
        and group.programme_id is not None
        and actor.coordinates(group.programme_id)
    )
    if not text:
        current = actor.person.timezone or settings.default_timezone
        answer = _("Your time zone: {zone}.").format(zone=zone_text(current))
        if group is not None:
            answer += "\n" + _("This group's time zone: {zone}.").format(
                zone=zone_text(group.timezone or settings.default_timezone)
            )
        await outbox.answer(
            message,
            answer + "\n" + _("To change: /tz {examples}").format(examples=zone_examples(", ")),
        )
        return
    try:
        if for_group and group is not None:
            group.timezone = normalize_zone(text)
            await outbox.answer(
                message,
                _("This group's time zone is now {zone}.").format(zone=zone_text(group.timezone)),
            )
            return
        zone = set_timezone(actor.person, text)
    except UnknownZoneError:
        await outbox.answer(
            message,
            _("I do not know the time zone «{zone}». Examples: {examples}.").format(
                zone=html.escape(text[:64]), examples=zone_examples(", ")
            ),
        )
        return
    await outbox.answer(message, _("Your time zone is now {zone}.").format(zone=zone_text(zone)))
