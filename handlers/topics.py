"""``/topics``: in a group, the programme's topics and hashtags; in private, a coordinator's
topics of a programme with buttons and subcommands to add, rename, set hashtags and keywords,
archive, restore and reorder them.

A coordinator of several programmes picks one first; the choice is kept in the dialogue's
data, so the subcommands that follow need not name it. A change begun with a button (a title,
hashtags, keywords, a new topic) takes the next message as its value.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import audit
from bot.domain import topics as domain
from bot.domain.access import Actor
from bot.domain.errors import DomainError
from bot.domain.programmes import get_programme, list_programmes
from bot.telegram.replies import Replies
from bot.views.topics import (
    TopicsAction,
    card_keyboard,
    card_text,
    edit_prompt,
    manage_keyboard,
    manage_text,
    programme_keyboard,
    public_list,
    refusal,
    usage,
)
from handlers.common import IN_GROUP, IN_PRIVATE, NotCommand, content_of
from models import AuditAction, GroupChat, Programme, RoleKind, Topic

# Subcommands and the words people may use for them.
SUBCOMMANDS = {
    "add": "add", "добавить": "add", "dodaj": "add",
    "rename": "rename", "переименовать": "rename", "nazwa": "rename",
    "tags": "tags", "hashtags": "tags", "хэштеги": "tags", "хештеги": "tags", "tagi": "tags",
    "keywords": "words", "words": "words", "слова": "words", "słowa": "words",
    "archive": "archive", "архив": "archive", "архивировать": "archive", "archiwum": "archive",
    "restore": "restore", "вернуть": "restore", "восстановить": "restore", "przywróć": "restore",
    "up": "up", "выше": "up", "вверх": "up", "wyżej": "up",
    "down": "down", "ниже": "down", "вниз": "down", "niżej": "down",
}  # fmt: skip
PROGRAMME_KEY = "topics_programme"
PENDING_KEY = "topics_pending"


class TopicsEdit(StatesGroup):
    """Waiting for the value of a change begun with a button."""

    value = State()


def router() -> Router:
    router = Router(name="topics")
    router.message.register(in_group, Command("topics"), IN_GROUP)
    router.message.register(
        cancel_edit, Command("cancel"), IN_PRIVATE, StateFilter(TopicsEdit.value)
    )
    router.message.register(in_private, Command("topics"), IN_PRIVATE)
    router.message.register(edit_value, StateFilter(TopicsEdit.value), IN_PRIVATE, NotCommand())
    router.callback_query.register(pressed, TopicsAction.filter())
    return router


# --- everyone -----------------------------------------------------------------------------------


async def in_group(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor | None = None,
    group: GroupChat | None = None,
) -> None:
    if group is None or group.programme_id is None:
        await outbox.reply(
            message,
            _(
                "This group is not registered to a programme yet, so I cannot take requests "
                "here. An admin or a coordinator can send /register."
            ),
        )
        return
    if command.args:
        await outbox.reply(message, _("Topics are changed in private: write /topics to me."))
        return
    language = actor.language if actor else "ru"
    topics = await domain.list_topics(session, group.programme_id)
    await outbox.reply(message, public_list(topics, language))


async def _show_members_list(
    message: Message, session: AsyncSession, outbox: Replies, actor: Actor
) -> None:
    """Topics of the programmes of a person who coordinates none."""
    ids = sorted({role.programme_id for role in actor.roles})
    if not ids:
        # In no programme yet: the topics every programme starts with.
        await outbox.answer(message, public_list(domain.default_topics(), actor.language))
        return
    parts = []
    for programme in await list_programmes(session, ids):
        topics = await domain.list_topics(session, programme.id)
        parts.append(
            f"<b>{html.escape(programme.title)}</b>\n{public_list(topics, actor.language)}"
        )
    await outbox.answer(message, "\n\n".join(parts))


# --- coordinators ------------------------------------------------------------------------------


def _audit(
    session: AsyncSession, actor: Actor, now: datetime, change: str, topics: list[Topic]
) -> None:
    audit.record(
        session,
        AuditAction.topics_changed,
        now,
        actor_id=actor.person.id,
        programme_id=topics[0].programme_id,
        details={"change": change, "topics": [topic.code for topic in topics]},
    )


async def _programmes(session: AsyncSession, actor: Actor) -> list[Programme]:
    ids = None if actor.is_admin else actor.programmes(RoleKind.coordinator)
    return await list_programmes(session, ids)


async def in_private(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> None:
    if await state.get_state() == TopicsEdit.value.state:
        # A change begun with a button and not sent: /topics starts afresh.
        await state.set_state(None)
    args = (command.args or "").strip()
    programmes = await _programmes(session, actor)
    if not programmes:
        if args:
            await outbox.answer(
                message, _("Only the programme's coordinators can change its topics.")
            )
            return
        await _show_members_list(message, session, outbox, actor)
        return
    chosen = (await state.get_data()).get(PROGRAMME_KEY)
    programme = next((p for p in programmes if p.id == chosen), None)
    if programme is None and len(programmes) == 1:
        programme = programmes[0]
    if programme is None:
        await state.update_data({PENDING_KEY: args})
        await outbox.answer(
            message,
            _("Topics of which programme?"),
            reply_markup=programme_keyboard(programmes),
        )
        return
    await state.update_data({PROGRAMME_KEY: programme.id})
    if not args:
        await _send_list(message, session, outbox, actor, programme)
        return
    await _subcommand(message, session, outbox, actor, programme, args, now)


async def _send_list(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    programme: Programme,
    *,
    edit: bool = False,
) -> None:
    topics = await domain.list_topics(session, programme.id, archived=True)
    text = manage_text(programme, topics, actor.language)
    several = len(await _programmes(session, actor)) > 1
    markup = manage_keyboard(programme.id, topics, actor.language, switch=several)
    if edit:
        await outbox.edit_message(message, text, reply_markup=markup)
    else:
        await outbox.answer(message, text, reply_markup=markup)


async def _subcommand(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    programme: Programme,
    args: str,
    now: datetime,
) -> None:
    """``/topics <subcommand> <code> ...`` in the chosen programme; a refusal changes nothing."""
    head, _space, rest = args.partition(" ")
    action = SUBCOMMANDS.get(head.lower())
    topics = await domain.list_topics(session, programme.id, archived=True)
    codes = [topic.code for topic in topics]
    words = rest.split()
    if action is None or not words:
        await outbox.answer(message, usage(codes))
        return
    if action == "add":
        await _add(message, session, outbox, actor, programme, rest, now)
        return
    if action in ("archive", "restore"):
        await _archive_or_restore(
            message, session, outbox, actor, programme.id, topics, words, action, now
        )
        return
    topic = domain.match_topic(topics, words[0])
    if topic is None:
        await outbox.answer(
            message,
            refusal(domain.UnknownTopics([words[0]]), actor.language) + "\n" + usage(codes),
        )
        return
    value = rest[len(words[0]) :].strip()
    change = {"rename": "renamed", "tags": "hashtags", "words": "keywords"}.get(action, "moved")
    changed = True
    try:
        if action == "rename":
            language, _space, title = value.partition(" ")
            if language.lower() in domain.LANGUAGES:
                domain.rename_topic(topic, language.lower(), title)
            else:
                domain.rename_topic(topic, "ru", value)
            note = _("Renamed.")
        elif action == "tags":
            await domain.set_hashtags(session, topic, value.replace(",", " ").split())
            note = _("Hashtags saved.")
        elif action == "words":
            domain.set_keywords(topic, "" if value == "-" else value)
            note = _("Keywords saved.")
        else:
            changed = await domain.move_topic(session, topic, -1 if action == "up" else 1)
            note = _("Moved.") if changed else _("It is already first or last.")
    except DomainError as error:
        await outbox.answer(message, refusal(error, actor.language))
        return
    if changed:
        _audit(session, actor, now, change, [topic])
    await outbox.answer(
        message, card_text(topic, actor.language, note=note), reply_markup=card_keyboard(topic)
    )


async def _add(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    programme: Programme,
    text: str,
    now: datetime,
) -> bool:
    """A new topic from «code Title» (or one word, both code and title); True when added."""
    code, _space, title = " ".join(text.split()).partition(" ")
    try:
        topic = await domain.add_topic(session, programme.id, code, title or code)
    except DomainError as error:
        await outbox.answer(message, refusal(error, actor.language))
        return False
    _audit(session, actor, now, "added", [topic])
    note = _("Topic added. Mentors can be invited to it: /invite mentor {code}").format(
        code=html.escape(topic.code)
    )
    await outbox.answer(
        message, card_text(topic, actor.language, note=note), reply_markup=card_keyboard(topic)
    )
    return True


async def _archive_or_restore(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    programme_id: int,
    topics: list[Topic],
    words: list[str],
    action: str,
    now: datetime,
) -> None:
    """Archive (or restore) every named topic, or none of them."""
    chosen: list[Topic] = []
    unknown: list[str] = []
    for word in words:
        # Codes only: a hashtag of an archived topic no longer names it.
        topic = next((t for t in topics if t.code == word.lstrip("#").lower()), None)
        if topic is None:
            topic = domain.match_topic([t for t in topics if t.active], word)
        if topic is None:
            unknown.append(word)
        elif topic not in chosen:
            chosen.append(topic)
    if unknown:
        await outbox.answer(
            message,
            refusal(domain.UnknownTopics(unknown), actor.language)
            + "\n"
            + usage([t.code for t in topics]),
        )
        return
    dropped: list[str] = []
    try:
        if action == "archive":
            await domain.archive_topics(session, programme_id, chosen)
        else:
            dropped = await domain.restore_topics(session, programme_id, chosen)
    except DomainError as error:
        await outbox.answer(message, refusal(error, actor.language))
        return
    _audit(session, actor, now, "archived" if action == "archive" else "restored", chosen)
    titles = ", ".join(f"«{html.escape(t.title(actor.language))}»" for t in chosen)
    if action == "archive":
        text = _("Archived: {topics}. They are offered no more; their requests keep them.").format(
            topics=titles
        )
    else:
        text = _("Offered again: {topics}.").format(topics=titles)
        if dropped:
            text += "\n" + _(
                "These hashtags belong to other topics now and were left there: {tags}"
            ).format(tags=" ".join(f"#{html.escape(tag)}" for tag in dropped))
    await outbox.answer(message, text)


# --- buttons and the values they ask for -------------------------------------------------

EDIT_FIELDS = ("ru", "en", "pl", "tags", "words")
# The buttons of a programme's list, as against those of one topic's card.
PROGRAMME_ACTIONS = frozenset({"programme", "switch", "list", "add"})
TOPIC_KEY = "topics_topic"
FIELD_KEY = "topics_field"


async def pressed(
    query: CallbackQuery,
    callback_data: TopicsAction,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> Any:
    message = query.message
    if not isinstance(message, Message) or message.chat.type != "private":
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    programme = await get_programme(session, callback_data.programme)
    if programme is None or not actor.coordinates(programme.id):
        return await outbox.callback(
            query, _("Only the programme's coordinators can change its topics."), show_alert=True
        )
    action = callback_data.action
    if action in PROGRAMME_ACTIONS:
        await _programme_pressed(
            query, message, action, programme, session, outbox, actor, state, now
        )
        return None
    topic = await domain.get_topic(session, programme.id, callback_data.topic, archived=True)
    if topic is None:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    if action == "edit" and callback_data.field in EDIT_FIELDS:
        await _ask_value(
            query, message, outbox, actor, state, programme.id, topic, callback_data.field
        )
        return None
    await _topic_pressed(query, message, action, topic, session, outbox, actor, now)
    return None


async def _programme_pressed(
    query: CallbackQuery,
    message: Message,
    action: str,
    programme: Programme,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> None:
    """A button of the programme's list: choose it, choose another, show it, add a topic."""
    if action == "programme":
        pending = (await state.get_data()).get(PENDING_KEY) or ""
        await state.update_data({PROGRAMME_KEY: programme.id, PENDING_KEY: ""})
        await outbox.callback(query)
        if pending:
            await outbox.edit_message(message, f"«{html.escape(programme.title)}»")
            await _subcommand(message, session, outbox, actor, programme, pending, now)
        else:
            await _send_list(message, session, outbox, actor, programme, edit=True)
    elif action == "switch":
        await outbox.callback(query)
        await outbox.edit_message(
            message,
            _("Topics of which programme?"),
            reply_markup=programme_keyboard(await _programmes(session, actor)),
        )
    elif action == "list":
        await state.update_data({PROGRAMME_KEY: programme.id})
        await outbox.callback(query)
        await _send_list(message, session, outbox, actor, programme, edit=True)
    else:  # «Add a topic»
        await _ask_value(query, message, outbox, actor, state, programme.id, None, "add")


async def _topic_pressed(
    query: CallbackQuery,
    message: Message,
    action: str,
    topic: Topic,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    now: datetime,
) -> None:
    """A button of one topic's card: move, archive or restore it, or show the card."""
    note = ""
    try:
        if action in ("up", "down"):
            moved = await domain.move_topic(session, topic, -1 if action == "up" else 1)
            note = _("Moved.") if moved else _("It is already first or last.")
            if moved:
                _audit(session, actor, now, "moved", [topic])
        elif action == "archive":
            await domain.archive_topics(session, topic.programme_id, [topic])
            _audit(session, actor, now, "archived", [topic])
            note = _("Archived: it is offered no more; its requests keep it.")
        elif action == "restore":
            dropped = await domain.restore_topics(session, topic.programme_id, [topic])
            _audit(session, actor, now, "restored", [topic])
            note = _("Offered again.")
            if dropped:
                note += " " + _(
                    "These hashtags belong to other topics now and were left there: {tags}"
                ).format(tags=" ".join(f"#{html.escape(tag)}" for tag in dropped))
        elif action != "card":
            await outbox.callback(query, _("This button is not valid."), show_alert=True)
            return
    except DomainError as error:
        await outbox.callback(query, refusal(error, actor.language), show_alert=True)
        return
    await outbox.callback(query, note or None)
    await outbox.edit_message(
        message, card_text(topic, actor.language, note=note), reply_markup=card_keyboard(topic)
    )


async def _ask_value(
    query: CallbackQuery,
    message: Message,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    programme_id: int,
    topic: Topic | None,
    field: str,
) -> None:
    await state.set_state(TopicsEdit.value)
    await state.update_data(
        {PROGRAMME_KEY: programme_id, TOPIC_KEY: topic.id if topic else 0, FIELD_KEY: field}
    )
    await outbox.callback(query)
    await outbox.answer(message, edit_prompt(topic, field, actor.language))


async def cancel_edit(message: Message, outbox: Replies, state: FSMContext) -> None:
    await state.set_state(None)
    await outbox.answer(message, _("Cancelled: nothing changed."))


async def edit_value(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> None:
    text = content_of(message).strip()
    data = await state.get_data()
    programme = await get_programme(session, int(data.get(PROGRAMME_KEY) or 0))
    if programme is None or not actor.coordinates(programme.id):
        await state.set_state(None)
        await outbox.answer(message, _("Only the programme's coordinators can change its topics."))
        return
    field = str(data.get(FIELD_KEY) or "")
    again = "\n" + _("Send it again, or /cancel.")
    if not text:
        # A photo or a sticker: nothing to take as a title, hashtags or keywords.
        await outbox.answer(message, again.strip())
        return
    if field == "add":
        if await _add(message, session, outbox, actor, programme, text, now):
            await state.set_state(None)
        else:
            await outbox.answer(message, again.strip())
        return
    topic = await domain.get_topic(
        session, programme.id, int(data.get(TOPIC_KEY) or 0), archived=True
    )
    if topic is None or field not in EDIT_FIELDS:
        await state.set_state(None)
        await outbox.answer(message, _("This topic is gone. Send /topics to see the list."))
        return
    try:
        if field == "tags":
            await domain.set_hashtags(session, topic, text.replace(",", " ").split())
            note = _("Hashtags saved.")
        elif field == "words":
            domain.set_keywords(topic, "" if text == "-" else text)
            note = _("Keywords saved.")
        else:
            domain.rename_topic(topic, field, text)
            note = _("Renamed.")
    except DomainError as error:
        await outbox.answer(message, refusal(error, actor.language) + again)
        return
    _audit(
        session,
        actor,
        now,
        {"tags": "hashtags", "words": "keywords"}.get(field, "renamed"),
        [topic],
    )
    await state.set_state(None)
    await outbox.answer(
        message, card_text(topic, actor.language, note=note), reply_markup=card_keyboard(topic)
    )
